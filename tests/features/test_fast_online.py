"""The fast read path returns exactly what the Feast path returns: values, missing, event timestamps."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import types
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from features import contract, fast_online
from features.fast_online import RESOLVE_RETRY_S, RedisOnlineReader, SqliteOnlineReader, reader_for
from features.feast_online import OnlineFeatureReader
from features.keys import entity_keys
from features.materialize import materialize
from features.online import PING_ENTITY, OnlineFeatures, OnlineStoreUnavailable, join_keys
from features.store import apply_repo, feature_store
from flightpath.settings import PROJECT_ROOT, Settings
from tests.conftest import require_service

UNKNOWN_TAILNUM = "N0TAPLANE"


def _stored_keys(settings: Settings) -> dict[str, set[str]]:
    """Every join key value present in the SQLite online store, per join key."""
    from feast.infra.key_encoding_utils import deserialize_entity_key

    keys: dict[str, set[str]] = {}
    with sqlite3.connect(settings.feast_dir / "online.db") as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for (blob,) in conn.execute(f'SELECT DISTINCT entity_key FROM "{table}"'):
                key = deserialize_entity_key(blob, entity_key_serialization_version=3)
                keys.setdefault(key.join_keys[0], set()).add(key.entity_values[0].string_val)
    return keys


def _all_entities(settings: Settings) -> list[dict[str, str | None]]:
    """Requests that together read every stored key of every join key (each key list cycled to
    the longest), then an unknown and an absent tail number, then a request no row matches."""
    keys = {k: sorted(v) for k, v in _stored_keys(settings).items()}
    assert set(keys) == set(join_keys()), keys.keys()
    n = max(len(v) for v in keys.values())
    cycles = {k: itertools.cycle(v) for k, v in keys.items()}
    entities: list[dict[str, str | None]] = [{k: next(c) for k, c in cycles.items()} for _ in range(n)]
    entities.append({**entities[0], "tailnum": UNKNOWN_TAILNUM})
    entities.append({**entities[1], "tailnum": None})
    entities.append({**{k: f"NO-{k}" for k in keys}, "tailnum": None})
    return entities


def _same(fast: list[OnlineFeatures], feast: list[OnlineFeatures]) -> None:
    assert len(fast) == len(feast)
    for i, (a, b) in enumerate(zip(fast, feast, strict=True)):
        assert a == b, (i, a, b)  # dataclass equality: values, missing (in order), event timestamps


@pytest.fixture(scope="module")
def all_entities(feature_store_home: Settings) -> list[dict[str, str | None]]:
    return _all_entities(feature_store_home)


def test_sqlite_fast_reader_equals_feast_for_every_stored_entity(
    feature_store_home: Settings, all_entities: list[dict[str, str | None]]
) -> None:
    fast = reader_for(feature_store_home)
    assert isinstance(fast, SqliteOnlineReader)
    expected = OnlineFeatureReader(feature_store_home).read(all_entities)
    got = fast.read(all_entities)
    _same(got, expected)
    # The comparison is not vacuous: there are present values, stamps, and missing planes.
    assert len(all_entities) > 100
    assert all(f.values["wx_temp"] is not None for f in got[:-1])
    assert sum(f.event_timestamps["plane_profile"] is not None for f in got) > 100
    unknown, absent, nothing = got[-3:]
    assert nothing.missing == list(contract.STORE_FEATURES)
    assert all(stamp is None for stamp in nothing.event_timestamps.values())
    plane = list(contract.FEATURE_VIEWS["plane_profile"])
    for features in (unknown, absent):
        assert all(features.values[n] is None for n in plane) and set(plane) <= set(features.missing)
        assert features.event_timestamps["plane_profile"] is None


def test_single_and_duplicate_reads_match_the_batch(
    feature_store_home: Settings, all_entities: list[dict[str, str | None]]
) -> None:
    fast = reader_for(feature_store_home)
    feast = OnlineFeatureReader(feature_store_home)
    sample = all_entities[::97] + all_entities[-3:]
    for entity in sample:  # one entity at a time: the serving shape
        _same(fast.read([entity]), feast.read([entity]))
    # Repeated keys and a mix of found and unknown keys in one request keep request order.
    mixed = [sample[0], sample[-1], sample[0], sample[-2], sample[1]]
    _same(fast.read(mixed), feast.read(mixed))
    assert fast.read(mixed)[1].missing == list(contract.STORE_FEATURES)
    assert fast.read([]) == []


def test_entity_without_origin_is_a_value_error(feature_store_home: Settings) -> None:
    with pytest.raises(ValueError, match="origin and carrier"):
        reader_for(feature_store_home).read([{"origin": None, "tailnum": "N14228", "carrier": "UA"}])
    extra = [k for k in join_keys() if k not in ("origin", "tailnum", "carrier")]
    if extra:  # composite keys must be sent: silently reading none of their features is worse
        with pytest.raises(ValueError, match=extra[0]):
            reader_for(feature_store_home).read([{"origin": "JFK", "tailnum": "N14228", "carrier": "UA"}])


def test_a_store_never_applied_is_unavailable(settings: Settings) -> None:
    reader = reader_for(settings)
    assert reader.ping() is False
    with pytest.raises(OnlineStoreUnavailable):
        reader.read([PING_ENTITY])


def test_without_the_registry_check_a_filled_store_is_read_with_no_registry_file(
    feature_store_home: Settings, tmp_path: Path
) -> None:
    """Kubernetes: serving never sees the pipeline's registry file; the contract names the views."""
    home = tmp_path / "home"
    shutil.copytree(feature_store_home.feast_dir, home / "feast")
    (home / "feast" / "registry.db").unlink()
    entity = entity_keys("JFK", "MIA", "N619AA", "AA", dt.datetime(2013, 1, 14, 9, 30))
    with pytest.raises(OnlineStoreUnavailable, match="apply the feature repo first"):
        reader_for(Settings(home=home)).read([entity])
    [features] = reader_for(Settings(home=home, online_registry_check=False)).read([entity])
    assert features.values["wx_temp"] is not None


def test_a_missing_online_database_is_unavailable_not_created(store_copy) -> None:
    settings = store_copy()
    apply_repo(settings)
    (settings.feast_dir / "online.db").unlink()
    reader = reader_for(settings)
    assert reader.ping() is False
    assert not (settings.feast_dir / "online.db").exists()


@pytest.fixture
def resolve_calls(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Counts calls of fast_online._resolve (the registry read), each a little slow, as a real one is."""
    calls: list[float] = []
    real = fast_online._resolve

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(time.monotonic())
        time.sleep(0.02)  # widens the window in which concurrent readers could race
        return real(*args, **kwargs)

    monkeypatch.setattr(fast_online, "_resolve", counting)
    return calls


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """A fake time.monotonic for fast_online only; call the fixture's value to advance it."""
    now = [1000.0]
    monkeypatch.setattr(fast_online, "time", types.SimpleNamespace(monotonic=lambda: now[0]))

    def advance(seconds: float) -> None:
        now[0] += seconds

    return advance


def test_a_failed_resolution_is_retried_only_after_the_back_off(
    store_copy, resolve_calls: list[float], clock: Callable[[float], None]
) -> None:
    settings = store_copy()  # tables built, repo never applied
    reader = reader_for(settings)
    with pytest.raises(OnlineStoreUnavailable, match="apply the feature repo") as first:
        reader.read([PING_ENTITY])
    assert len(resolve_calls) == 1
    # Degraded mode: more reads and pings within the back-off fail alike, without the registry.
    clock(RESOLVE_RETRY_S / 2)
    with pytest.raises(OnlineStoreUnavailable) as again:
        reader.read([PING_ENTITY])
    assert str(again.value) == str(first.value)
    assert reader.ping() is False
    apply_repo(settings)  # not seen before the back-off has passed
    with pytest.raises(OnlineStoreUnavailable):
        reader.read([PING_ENTITY])
    assert len(resolve_calls) == 1
    # After it, the next read resolves by itself and the reader stays resolved.
    clock(RESOLVE_RETRY_S / 2 + 0.01)
    [features] = reader.read([PING_ENTITY])
    assert features.missing == list(contract.STORE_FEATURES)  # applied, nothing materialized
    assert reader.ping() is True
    assert len(resolve_calls) == 2


def test_a_retry_that_fails_again_starts_a_new_back_off(
    store_copy, resolve_calls: list[float], clock: Callable[[float], None]
) -> None:
    reader = reader_for(store_copy())
    for expected_calls in (1, 2):
        for _ in range(3):
            assert reader.ping() is False
        assert len(resolve_calls) == expected_calls
        clock(RESOLVE_RETRY_S)


def test_concurrent_reads_of_an_unapplied_registry_resolve_once(store_copy, resolve_calls: list[float]) -> None:
    reader = reader_for(store_copy())
    n = 8
    start = threading.Barrier(n)
    errors: list[BaseException] = []

    def read() -> None:
        start.wait()
        try:
            reader.read([PING_ENTITY])
        except OnlineStoreUnavailable as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(errors) == n  # every reader got the error, only one of them read the registry
    assert len(resolve_calls) == 1


def test_a_read_imports_no_feast_pandas_pyarrow_duckdb_or_protobuf(feature_store_home: Settings) -> None:
    """The serving worker's read path: a real read of the materialized store, in a fresh process."""
    code = f"""
import sys
from flightpath.settings import Settings
import datetime as dt
from features.fast_online import reader_for
from features.keys import entity_keys
settings = Settings(home={str(feature_store_home.home)!r})
entity = entity_keys("JFK", "MIA", "N619AA", "AA", dt.datetime(2013, 1, 14, 9, 30))
[features] = reader_for(settings).read([entity])
assert features.values["wx_temp"] is not None, features
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & {{"feast", "pandas", "pyarrow", "duckdb", "google"}})
assert not heavy, heavy
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLIGHTPATH_", "MLFLOW_"))}
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_unreachable_redis_is_unavailable_fast(feature_store_home: Settings) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = feature_store_home.model_copy(update={"online_store": "redis", "redis_url": f"127.0.0.1:{port}"})
    reader = reader_for(settings)
    assert isinstance(reader, RedisOnlineReader)
    started = time.perf_counter()
    assert reader.ping() is False
    with pytest.raises(OnlineStoreUnavailable, match="unreachable"):
        reader.read([PING_ENTITY])
    assert time.perf_counter() - started < 2.0  # no retry backoff


@pytest.mark.integration
def test_redis_fast_reader_equals_feast(
    store_copy, materialized_end: dt.datetime, all_entities: list[dict[str, str | None]]
) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    settings = store_copy(online_store="redis", redis_url="127.0.0.1:6379")
    project = f"fptest_{uuid.uuid4().hex[:10]}"  # its own key space
    apply_repo(settings, project)
    try:
        # Two days only: some keys (carriers with no flights then, most planes) stay absent.
        materialize(settings, materialized_end - dt.timedelta(days=2), materialized_end, project)
        fast = reader_for(settings, project)
        assert isinstance(fast, RedisOnlineReader) and fast.ping()
        expected = OnlineFeatureReader(settings, project).read(all_entities)
        got = fast.read(all_entities)
        _same(got, expected)
        assert any(f.values["wx_temp"] is not None for f in got)
        for entity in all_entities[::500] + all_entities[-3:]:
            _same(fast.read([entity]), OnlineFeatureReader(settings, project).read([entity]))
    finally:
        feature_store(settings, project).teardown()


@pytest.mark.integration
def test_redis_cluster_fast_reader_equals_feast(
    store_copy, materialized_end: dt.datetime, all_entities: list[dict[str, str | None]], tmp_path
) -> None:
    """The online store on a three-shard Redis Cluster (settings.redis_type="redis_cluster"): Feast
    materializes into it, and the fast reader, whose one pipeline now spans shards, answers exactly
    as Feast does."""
    from tests.features.redis_cluster import RedisClusterServers

    with RedisClusterServers(tmp_path / "cluster") as cluster:
        settings = store_copy(online_store="redis", redis_url=cluster.url, redis_type="redis_cluster")
        project = f"fptest_{uuid.uuid4().hex[:10]}"
        apply_repo(settings, project)
        materialize(settings, materialized_end - dt.timedelta(days=2), materialized_end, project)
        # The keys really are spread over the shards (not all on one node by accident).
        import redis

        per_node = [redis.Redis(port=port).dbsize() for port in cluster.ports]
        assert all(n > 0 for n in per_node), per_node
        fast = reader_for(settings, project)
        assert isinstance(fast, RedisOnlineReader) and fast.ping()
        expected = OnlineFeatureReader(settings, project).read(all_entities)
        got = fast.read(all_entities)
        _same(got, expected)
        assert any(f.values["wx_temp"] is not None for f in got)
        for entity in all_entities[::500] + all_entities[-3:]:
            _same(fast.read([entity]), OnlineFeatureReader(settings, project).read([entity]))
    # Every node gone: unavailable, not an unexplained error.
    dead = reader_for(settings, project)
    assert dead.ping() is False
    with pytest.raises(OnlineStoreUnavailable):
        dead.read(all_entities[:1])
