"""Airflow reads its configuration at first import: point it at a throw-away AIRFLOW_HOME first."""

from __future__ import annotations

from pathlib import Path

import pytest

from flightpath.settings import Settings


@pytest.fixture(scope="session")
def airflow_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from pipelines import airflow_env

    s = Settings(home=tmp_path_factory.mktemp("airflow") / "home")
    airflow_env.configure(s)
    return s


@pytest.fixture(scope="session")
def dags_dir(airflow_settings: Settings) -> Path:
    return airflow_settings.dags_dir
