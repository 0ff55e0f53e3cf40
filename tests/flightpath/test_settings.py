from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from flightpath.settings import Settings


def test_every_path_derives_from_home(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    for p in (s.lake_dir, s.feast_dir, s.mlflow_dir, s.airflow_home, s.reports_dir, s.models_dir):
        assert tmp_path in p.parents
    assert s.mlflow_tracking_uri == f"sqlite:///{tmp_path}/mlflow/mlflow.db"


def test_env_prefix_and_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLIGHTPATH_HORIZON_HOURS", "3")
    monkeypatch.setenv("FLIGHTPATH_DEMO_END", "2013-01-21")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    s = Settings(home=tmp_path)
    assert s.horizon == dt.timedelta(hours=3)
    assert s.demo_end == dt.date(2013, 1, 21)
    assert s.mlflow_tracking_uri == "http://127.0.0.1:5000"


@pytest.mark.parametrize("end", ["2014-01-01", "2012-12-31"])
def test_window_outside_the_data_is_refused(end: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="outside the data"):
        Settings(home=tmp_path, demo_end=end)


def test_stack_profile_uses_redis(tmp_path: Path) -> None:
    assert Settings(home=tmp_path, profile="stack").online_store == "redis"
