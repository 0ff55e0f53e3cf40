"""A backfill through Airflow (daily DAG runs) and `make backfill` (direct calls) give the same lake."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pendulum
import pytest
from backfill_helpers import lake_digest

from flightpath import settings as settings_module
from flightpath.settings import Settings
from pipelines import airflow_env, steps

START, END = dt.date(2013, 1, 1), dt.date(2013, 1, 3)


@pytest.mark.integration
def test_airflow_backfill_and_direct_backfill_write_identical_lakes(
    airflow_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    via_airflow = tmp_path / "via_airflow"
    monkeypatch.setenv("FLIGHTPATH_HOME", str(via_airflow))
    settings_module.get_settings.cache_clear()
    airflow_env.migrate_db(airflow_settings)
    daily = DagBag(dag_folder=str(airflow_settings.dags_dir)).dags["flightpath_daily"]
    day = START
    while day <= END:
        # A manual run covers the last whole interval before its date: the run "after" D covers D.
        after = day + dt.timedelta(days=1)
        run = daily.test(logical_date=pendulum.datetime(after.year, after.month, after.day, tz="America/New_York"))
        assert "success" in str(run.state), f"daily run for {day} ended {run.state}"
        day += dt.timedelta(days=1)
    settings_module.get_settings.cache_clear()

    direct = Settings(home=tmp_path / "direct")
    steps.ingest_window(direct, START, END)
    steps.features_window(direct, START, END)

    airflow_lake = lake_digest(via_airflow / "lake")
    assert airflow_lake == lake_digest(direct.lake_dir)
    assert any(k.startswith("curated/flights/date=2013-01-03") for k in airflow_lake)
    assert any(k.startswith("features/origin_recent/2013-01-03") for k in airflow_lake)
