"""Airflow reads its configuration at first import: point it at a throw-away AIRFLOW_HOME first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flightpath import settings as settings_module
from flightpath.processes import free_port
from flightpath.settings import Settings

# The window CI's `make demo` uses: 4 weeks, the last 7 days being the test window. Shorter
# windows leave a test window of a few days, where the network and the baseline are a coin flip
# apart and the gate (rightly) may promote nothing.
DEMO_START, DEMO_END = dt.date(2013, 1, 1), dt.date(2013, 1, 28)


@pytest.fixture(scope="session")
def airflow_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from pipelines import airflow_env

    s = Settings(home=tmp_path_factory.mktemp("airflow") / "home")
    airflow_env.configure(s)
    return s


@pytest.fixture(scope="session")
def dags_dir(airflow_settings: Settings) -> Path:
    return airflow_settings.dags_dir


@dataclass(frozen=True)
class DemoRun:
    """A home the demo DAG ran in: the environment its processes read, its settings, its summary."""

    env: dict[str, str]
    settings: Settings
    summary: dict[str, Any]

    def enter(self, monkeypatch: pytest.MonkeyPatch) -> Settings:
        """Point this process (and the children it starts, such as the server) at the home."""
        for k, v in self.env.items():
            monkeypatch.setenv(k, v)
        settings_module.get_settings.cache_clear()
        return settings_module.get_settings()


@pytest.fixture(scope="session")
def demo_run(airflow_settings: Settings) -> Iterator[DemoRun]:
    """The demo DAG once, in-process, on DEMO_START..DEMO_END (several tests read what it left)."""
    from pipelines import demo

    env = {
        "FLIGHTPATH_HOME": str(airflow_settings.home),
        "FLIGHTPATH_DEMO_START": DEMO_START.isoformat(),
        "FLIGHTPATH_DEMO_END": DEMO_END.isoformat(),
        "FLIGHTPATH_SERVE_PORT": str(free_port()),
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)  # DAG tasks read settings from the environment
        settings_module.get_settings.cache_clear()
        s = settings_module.get_settings()
        summary = demo.run_dag(s, DEMO_START, DEMO_END)
    settings_module.get_settings.cache_clear()
    yield DemoRun(env, s, summary)
    settings_module.get_settings.cache_clear()
