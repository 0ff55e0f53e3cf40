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


@pytest.mark.parametrize(
    ("given", "feast_form"),
    [
        ("localhost:6379", "localhost:6379"),
        ("redis:6379,password=s3cret", "redis:6379,password=s3cret"),
        ("redis://redis-host:6380", "redis-host:6380"),
        ("redis://redis-host", "redis-host:6379"),
        ("redis://:p%40ss@10.0.0.5:6379/2", "10.0.0.5:6379,password=p@ss,db=2"),
        ("redis://user:pw@cache:6379/0", "cache:6379,password=pw,db=0"),
        ("rediss://cache.example:6380", "cache.example:6380,ssl=true"),
        # A Redis Cluster's nodes (redis_type="redis_cluster").
        ("shard-0:6379,shard-1:6379,password=pw", "shard-0:6379,shard-1:6379,password=pw"),
    ],
)
def test_redis_urls_people_write_become_feasts_form(tmp_path, given, feast_form):
    assert Settings(home=tmp_path, redis_url=given).redis_url == feast_form


@pytest.mark.parametrize(
    "bad",
    [
        "http://cache:6379",
        "redis://cache:port",
        "redis://cache:6379/zero",
        "cache",
        "cache:6379,db",
        ":6379",
        "a:1,password=x,b:2",  # a node after an option
    ],
)
def test_other_redis_addresses_are_refused_at_start_naming_the_forms(tmp_path, bad):
    with pytest.raises(ValueError, match="redis://"):
        Settings(home=tmp_path, redis_url=bad)


@pytest.mark.integration
def test_a_redis_url_reaches_the_real_server(tmp_path):
    """The form that used to leave every answer degraded: the fast reader pings through it."""
    from features.fast_online import _redis_client
    from tests.conftest import require_service

    require_service("Redis", "127.0.0.1", 6379)
    s = Settings(home=tmp_path, online_store="redis", redis_url="redis://127.0.0.1:6379/0")
    assert _redis_client(s.redis_url).ping() is True
