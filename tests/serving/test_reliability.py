"""Reliability against a real `flightpath serve` process (uvicorn, own process group).

Each test runs a fixed, modest load (3 client threads, a few seconds) and checks what a client
would see: SIGTERM drains without failing accepted requests; a champion move switches versions
once and never back; a Redis online store killed mid-load degrades answers instead of failing
them and full answers come back by themselves when it returns; the OpenAPI schema fuzzed with
schemathesis never gets a 5xx.

The service starts with no Feast registry under its home unless a test builds one (the Redis test
does), so /v1/predict answers in degraded mode: every path below exists and is exercised, just
with default features.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_service import Load, serve
from redis_server import RedisServer
from serving_fakes import BIAS, FLIGHT, Registry, build_model, copy_registry

from features import contract
from flightpath.settings import Settings

pytestmark = pytest.mark.integration  # real uvicorn processes, a redis-server


@pytest.fixture
def champion_registry(_registry_template: Path, tmp_path: Path) -> Registry:
    registry = copy_registry(_registry_template, tmp_path / "mlflow")
    registry.register(build_model())
    return registry


def test_sigterm_under_load_drains_without_failing_accepted_requests(champion_registry, tmp_path):
    with serve(tmp_path / "home", champion_registry, FLIGHTPATH_DRAIN_SECONDS="1.5") as svc:
        with Load(svc.base, FLIGHT) as load:
            time.sleep(2.0)
            sigterm_at = time.monotonic()
            os.killpg(svc.proc.pid, signal.SIGTERM)
            unready_seen = False
            while svc.proc.poll() is None:
                try:
                    if httpx.get(f"{svc.base}/readyz", timeout=1).status_code == 503:
                        unready_seen = True
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        # uvicorn re-raises the captured SIGTERM after its clean shutdown: -15 is a clean exit here.
        assert svc.proc.wait(timeout=30) in (0, -signal.SIGTERM), svc.tail()
        assert "Application shutdown complete" in svc.tail()
    outcomes = load.all
    answered = [o for o in outcomes if o.status is not None]
    assert len([o for o in answered if o.sent < sigterm_at]) > 20, "the load never got going"
    assert all(o.status == 200 for o in answered), {o.status for o in answered}
    # No response is fine only for a request sent after shutdown began (listener closing).
    early_failures = [o for o in outcomes if o.status is None and o.sent < sigterm_at]
    assert early_failures == []
    assert unready_seen, "/readyz never said 503 before the process exited"
    assert len([o for o in answered if o.sent >= sigterm_at]) > 0, "nothing was served during the drain"
    drained = len([o for o in answered if o.sent >= sigterm_at])
    print(f"FIGURE sigterm: {len(answered)} answered (all 200), {drained} during the drain, 0 failed before SIGTERM")


def test_a_champion_move_under_load_switches_once_and_never_back(champion_registry, tmp_path):
    with serve(tmp_path / "home", champion_registry, FLIGHTPATH_RELOAD_INTERVAL_S="0.5") as svc:
        with Load(svc.base, FLIGHT) as load:
            time.sleep(1.0)
            champion_registry.register(build_model(bias=BIAS + 1))  # v2 becomes champion
            deadline = time.monotonic() + 20
            while not any(o.body and o.body["model"]["version"] == "2" for o in load.all[-20:]):
                assert time.monotonic() < deadline, "the service never switched to v2"
                time.sleep(0.1)
            time.sleep(1.0)
    outcomes = load.all
    assert outcomes and all(o.status == 200 for o in outcomes), {(o.status, o.error) for o in outcomes}
    for per in load.per_thread:  # each thread is sequential, so its sequence is in serving order
        versions = [int(o.body["model"]["version"]) for o in per]
        assert versions == sorted(versions), "a response went back to v1 after v2"
        assert versions[0] == 1 and versions[-1] == 2
    print(f"FIGURE champion move: {len(outcomes)} answered (all 200), no thread went back to v1")


def test_fuzzing_the_openapi_schema_never_gets_a_5xx(champion_registry, tmp_path):
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    with serve(tmp_path / "home", champion_registry) as svc:
        schema = schemathesis.openapi.from_url(f"{svc.base}/openapi.json")
        calls: list[tuple[str, int]] = []
        server_errors: list[str] = []
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(
                max_examples=340,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def fuzz(case: object) -> None:
                response = case.call(base_url=svc.base, timeout=10)  # type: ignore[attr-defined]
                calls.append((case.operation.label, response.status_code))  # type: ignore[attr-defined]
                if response.status_code >= 500:
                    server_errors.append(
                        f"{case.operation.label} -> {response.status_code}: "  # type: ignore[attr-defined]
                        f"{response.text[:200]}"
                    )

            fuzz()
        assert svc.proc.poll() is None
    assert not server_errors, server_errors[:5]
    assert len(calls) >= 1000, len(calls)
    assert len({op for op, _ in calls}) >= 6  # every operation was exercised (GETs without parameters: 1 case each)
    print(f"FIGURE schemathesis: {len(calls)} cases over {len({op for op, _ in calls})} operations, 0 server errors")


def test_slow_senders_hold_no_capacity_and_are_timed_out_with_408(champion_registry, tmp_path):
    """More clients than max_in_flight (64) send headers and half a body, then stall. A complete
    request is still answered 200 at once and readiness stays 200; each stalled client gets 408
    and a closed connection when its body deadline passes."""
    stalled_clients = 70
    with serve(tmp_path / "home", champion_registry, FLIGHTPATH_BODY_TIMEOUT_S="2") as svc:
        host, port = svc.base.removeprefix("http://").split(":")
        sockets = []
        for _ in range(stalled_clients):
            sock = socket.create_connection((host, int(port)), timeout=15)
            sock.sendall(
                b"POST /v1/predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                b'Content-Length: 200\r\n\r\n{"flight": 1545,'
            )
            sockets.append(sock)
        time.sleep(0.3)  # every stalled request has reached the app's middleware
        answer = httpx.post(f"{svc.base}/v1/predict", json=FLIGHT, timeout=5)
        ready = httpx.get(f"{svc.base}/readyz", timeout=5)
        replies = []
        for sock in sockets:
            with sock:
                received = b""
                while chunk := sock.recv(65536):  # until the server closes the connection
                    received += chunk
                replies.append(received)
        metrics = httpx.get(f"{svc.base}/metrics", timeout=5).text
    assert answer.status_code == 200, answer.text
    assert ready.status_code == 200
    assert [reply.split(b" ", 2)[1] for reply in replies] == [b"408"] * stalled_clients
    assert f'flightpath_requests_rejected_total{{reason="body_timeout"}} {stalled_clients}.0' in metrics
    print(f"FIGURE slow bodies: {stalled_clients} stalled clients -> 408 each; a complete request meanwhile -> 200")


# --- the online store stopped during load -----------------------------------------------------------
def _redis_feature_home(source: Settings, home: Path, redis_url: str) -> Settings:
    """A home with a copy of `source`'s lake, the repo applied on Redis at `redis_url` and the
    window's last two days materialized (enough for every view; ~8 s, mostly Feast's apply)."""
    from features.materialize import materialize
    from features.store import apply_repo
    from features.tables import build_feature_tables, local_midnight_utc

    shutil.copytree(source.lake_dir, home / "lake")
    settings = source.model_copy(update={"home": home, "online_store": "redis", "redis_url": redis_url})
    days = settings.demo_days()[-2:]
    build_feature_tables(settings, days)
    apply_repo(settings)
    start = local_midnight_utc(days[0]).to_pydatetime()
    end = local_midnight_utc(days[-1] + dt.timedelta(days=1)).to_pydatetime()
    materialize(settings, start, end)
    return settings


def _flight_in_store(settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """A flight of the last materialized day whose features the store has (the fewest missing),
    as a /v1/predict body, and the store features it lacks (read directly, not through serving)."""
    from features.fast_online import reader_for
    from features.keys import entity_keys
    from flightpath import lake

    day = settings.demo_end
    flights = lake.read_partitions(settings.lake_dir, "curated", "flights", [day])
    flights = flights[flights["tailnum"].notna()].head(200)
    entities = [
        dict(entity_keys(f.origin, f.dest, f.tailnum, f.carrier, f.sched_dep_local.to_pydatetime()))
        for f in flights.itertuples()
    ]
    found = reader_for(settings).read(entities)
    best = min(range(len(found)), key=lambda i: len(found[i].missing))
    f = flights.iloc[best]
    body = {
        "carrier": f.carrier,
        "flight": int(f.flight),
        "tailnum": f.tailnum,
        "origin": f.origin,
        "dest": f.dest,
        "sched_dep_local": f.sched_dep_local.isoformat(timespec="minutes"),
    }
    return body, found[best].missing


def _wait_for_answer(load: Load, *, degraded: bool, sent_after: float, timeout_s: float) -> float:
    """Wait until an answer sent after `sent_after` has this degraded flag; return when it was sent."""
    deadline = time.monotonic() + timeout_s
    while True:
        for o in load.all[-30:]:
            if o.sent >= sent_after and o.body is not None and o.body.get("degraded") is degraded:
                return o.sent
        assert time.monotonic() < deadline, f"no answer with degraded={degraded} within {timeout_s} s"
        time.sleep(0.05)


def _runs(flags: list[bool]) -> list[bool]:
    """[F, F, T, T, F] -> [F, T, F]: the distinct phases of one thread's sequence."""
    return [f for i, f in enumerate(flags) if i == 0 or f != flags[i - 1]]


def _degraded_total(metrics_text: str) -> float:
    """flightpath_degraded_predictions_total summed over reasons (prometheus_client adds _total)."""
    pattern = r"^flightpath_degraded_predictions_total(?:\{[^}]*\})? (\S+)$"
    return sum(float(v) for v in re.findall(pattern, metrics_text, flags=re.MULTILINE))


@pytest.fixture
def redis_store(tiny_lake: Settings, tmp_path: Path) -> Iterator[tuple[RedisServer, Settings]]:
    """A redis-server of this test's own (never the shared one on 6379) holding the tiny window's
    last two days, and the settings of a home applied on it."""
    with RedisServer(tmp_path / "redis") as redis:
        yield redis, _redis_feature_home(tiny_lake, tmp_path / "home", redis.url)


def test_online_store_stopped_during_load_degrades_then_recovers_by_itself(champion_registry, redis_store):
    redis, settings = redis_store
    flight, store_missing = _flight_in_store(settings)
    assert len(store_missing) <= 2, store_missing  # the comparison below is about real features
    env = {"FLIGHTPATH_ONLINE_STORE": "redis", "FLIGHTPATH_REDIS_URL": redis.url}
    with serve(settings.home, champion_registry, **env) as svc:
        first = httpx.post(f"{svc.base}/v1/predict", json=flight, timeout=10).json()
        assert first["degraded"] is False and first["missing_features"] == store_missing, first
        with Load(svc.base, flight) as load:
            time.sleep(1.5)
            killed_at = time.monotonic()
            redis.kill()
            _wait_for_answer(load, degraded=True, sent_after=killed_at, timeout_s=10)
            ready = httpx.get(f"{svc.base}/readyz", timeout=5)  # the store is reported, not required
            time.sleep(1.5)
            redis.start()  # same port, same data; returns once it answers PING
            back_at = time.monotonic()
            recovered_at = _wait_for_answer(load, degraded=False, sent_after=back_at, timeout_s=15)
            time.sleep(1.0)
        metrics = httpx.get(f"{svc.base}/metrics", timeout=5).text
    outcomes = load.all
    assert all(o.status == 200 for o in outcomes), {(o.status, o.error) for o in outcomes}
    assert ready.status_code == 200 and ready.json()["online_store"]["status"] == "down", ready.text

    full = [o.body for o in outcomes if not o.body["degraded"]]
    degraded = [o.body for o in outcomes if o.body["degraded"]]
    # Full answers, before and after the outage, are the same answer: the features came back.
    assert {(b["probability"], tuple(b["missing_features"])) for b in full} == {
        (first["probability"], tuple(store_missing))
    }
    # Degraded answers lack every store feature, and that changes the answer.
    assert degraded and all(b["missing_features"] == list(contract.STORE_FEATURES) for b in degraded)
    assert first["probability"] not in {b["probability"] for b in degraded}
    for per in load.per_thread:  # each thread is sequential: its answers are in serving order
        assert _runs([o.body["degraded"] for o in per]) == [False, True, False]
    # No back-off on a failed read: once Redis answers PING, the next read reconnects (redis-py
    # replaces a pooled connection whose server went away when it hands it out).
    assert not [o for o in outcomes if o.sent >= back_at and o.body["degraded"]]
    assert len([o for o in outcomes if o.sent < killed_at]) > 20, "the load never got going"
    assert len([o for o in outcomes if o.sent >= recovered_at and not o.body["degraded"]]) > 20
    assert _degraded_total(metrics) == len(degraded)
    print(
        f"FIGURE redis killed: {len(outcomes)} answered (all 200), {len(degraded)} degraded; "
        f"full answers {recovered_at - back_at:.2f} s after Redis answered PING again"
    )
