"""The online read path: same values as the offline join at "now", missing keys, outages, Redis."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
import uuid

import pandas as pd
import pytest

from features import contract
from features.feast_online import OnlineFeatureReader
from features.keys import entity_keys
from features.materialize import materialize
from features.online import OnlineStoreUnavailable
from features.store import apply_repo, feature_store, redis_connection_string
from features.training_set import join_features
from flightpath.settings import PROJECT_ROOT, Settings
from tests.conftest import require_service

# Flights of the last materialized day (2013-01-14), keys built like serving builds them.
ENTITIES: list[dict[str, str | None]] = [
    entity_keys(origin, dest, tailnum, carrier, dt.datetime(2013, 1, 14, hour, 30))
    for origin, dest, tailnum, carrier, hour in [
        ("EWR", "IAH", "N14228", "UA", 8),
        ("JFK", "MIA", "N619AA", "AA", 9),
        ("LGA", "ATL", "N24211", "DL", 10),
        ("JFK", "BOS", "N516JB", "B6", 14),
        ("LGA", "ORD", "N3ALAA", "MQ", 17),
    ]
]


def _offline_at(settings: Settings, entities: list[dict[str, str | None]], now: dt.datetime) -> pd.DataFrame:
    frame = pd.DataFrame(entities).assign(_row=range(len(entities)), event_timestamp=pd.Timestamp(now))
    return join_features(settings, frame)


def _assert_same(online: list, offline: pd.DataFrame) -> None:
    for features, (_, expected) in zip(online, offline.iterrows(), strict=True):
        for name in contract.STORE_FEATURES:
            want = None if pd.isna(expected[name]) else float(expected[name])
            assert features.values[name] == want, (name, features.values[name], want)


def test_online_equals_offline_at_the_end_of_the_materialized_interval(
    feature_store_home: Settings, materialized_end: dt.datetime
) -> None:
    online = OnlineFeatureReader(feature_store_home).read(ENTITIES)
    offline = _offline_at(feature_store_home, ENTITIES, materialized_end)
    _assert_same(online, offline)
    assert online[0].values["wx_temp"] is not None and online[0].values["plane_seats"] is not None
    # the composite keys reach their rows too (parity on all-missing values would prove nothing)
    assert all(f.values["route_delay_rate_14d"] is not None for f in online)
    assert all(f.values["origin_sched_departures_hour"] is not None for f in online)
    stamps = online[0].event_timestamps
    assert stamps["carrier_performance"] == dt.datetime(2013, 1, 14, 5, tzinfo=dt.UTC)  # last midnight
    assert dt.timedelta(0) <= materialized_end - stamps["weather_at_origin"] <= dt.timedelta(hours=3)


def test_unknown_or_absent_tailnum_is_a_missing_plane_not_an_error(feature_store_home: Settings) -> None:
    plane = list(contract.FEATURE_VIEWS["plane_profile"])
    unknown, absent = OnlineFeatureReader(feature_store_home).read(
        [
            {**ENTITIES[1], "tailnum": "N0TAPLANE"},
            {**ENTITIES[1], "tailnum": None},
        ]
    )
    for features in (unknown, absent):
        assert all(features.values[name] is None for name in plane)
        assert set(plane) <= set(features.missing)
        assert features.event_timestamps["plane_profile"] is None
        assert features.values["wx_temp"] is not None and features.values["carrier_flights_7d"] is not None
    assert set(unknown.values) == set(contract.STORE_FEATURES)


def test_unreachable_redis_raises_and_ping_says_so(feature_store_home: Settings) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = {"online_store": "redis", "redis_url": f"127.0.0.1:{port}"}
    settings = feature_store_home.model_copy(update=down)
    reader = OnlineFeatureReader(settings)
    assert reader.ping() is False
    started = time.perf_counter()
    with pytest.raises(OnlineStoreUnavailable, match="unreachable"):
        reader.read(ENTITIES[:1])
    assert time.perf_counter() - started < 1.0  # fails fast: no retry backoff on the request path


def test_a_store_never_applied_is_unavailable(settings: Settings) -> None:
    assert OnlineFeatureReader(settings).ping() is False


def test_redis_timeouts_are_added_unless_given() -> None:
    assert redis_connection_string("redis:6379") == (
        "redis:6379,socket_timeout=0.5,socket_connect_timeout=0.5,retry=null"
    )
    assert redis_connection_string("redis:6379,socket_timeout=2") == (
        "redis:6379,socket_timeout=2,socket_connect_timeout=0.5,retry=null"
    )


def test_importing_the_reader_does_not_import_feast() -> None:
    code = "import sys, features.online; assert 'feast' not in sys.modules, 'feast imported'"
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True)


@pytest.mark.integration
def test_redis_round_trip(store_copy, materialized_end: dt.datetime, feature_store_home: Settings) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    settings = store_copy(online_store="redis", redis_url="127.0.0.1:6379")
    project = f"fptest_{uuid.uuid4().hex[:10]}"  # its own key space: concurrent runs never clash
    apply_repo(settings, project)
    try:
        start = materialized_end - dt.timedelta(days=2)
        materialize(settings, start, materialized_end, project)
        reader = OnlineFeatureReader(settings, project)
        assert reader.ping()
        _assert_same(reader.read(ENTITIES), _offline_at(feature_store_home, ENTITIES, materialized_end))
    finally:
        feature_store(settings, project).teardown()  # deletes this project's Redis keys


def test_a_quiet_hour_online_says_no_departures_not_last_nights_values(
    store_copy, feature_store_home: Settings
) -> None:
    """Materialized up to 04:00 local, the online store (latest row, no TTL) must say what training
    says at that moment: nothing left in the last two hours, nobody waiting. Before every hour had
    its row it answered with the previous evening's values."""
    settings = store_copy()
    apply_repo(settings)
    now = dt.datetime(2013, 1, 14, 9, tzinfo=dt.UTC)  # 04:00 local: the airports are silent
    materialize(settings, now - dt.timedelta(days=1), now)
    early = [entity_keys("EWR", "IAH", "N14228", "UA", dt.datetime(2013, 1, 14, 6, 0))]
    (online,) = OnlineFeatureReader(settings).read(early)
    assert online.values["origin_dep_delay_2h"] is None and online.values["origin_backlog_2h"] == 0.0
    assert online.event_timestamps["origin_recent"] == now  # the row of 04:00 itself: what is known then
    _assert_same([online], _offline_at(feature_store_home, early, now))
