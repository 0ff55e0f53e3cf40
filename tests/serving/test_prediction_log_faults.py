"""The prediction log under faults, against real processes: nothing answered 200 is missing afterwards.

Each test runs a real `flightpath serve` (workers, model sync, log shipper) under a steady load
whose every request carries its own X-Request-ID, breaks something, and then reconciles: every
request answered 200 has exactly one row in the log, no answer was a 5xx.
- PostgreSQL (one the test owns, the stack profile's log database) restarted, then paused;
- SIGKILL of the shipper, SIGKILL of a worker, then SIGTERM of the server, all under load;
- the spool on a full disk (a 1 MiB tmpfs in a private mount namespace) while the database is
  away: the service answers and says so, and recovers by itself once the shipper frees space.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest
from live_service import Load, Service, serve
from postgres_server import PostgresServer
from redis_server import RedisServer
from serving_fakes import FLIGHT, Registry, build_model, copy_registry

from flightpath.prediction_table import read_rows
from tests.conftest import unavailable

pytestmark = pytest.mark.integration


@pytest.fixture
def champion_registry(_registry_template: Path, tmp_path: Path) -> Registry:
    registry = copy_registry(_registry_template, tmp_path / "mlflow")
    registry.register(build_model())
    return registry


def acknowledged(load: Load) -> list[str]:
    outcomes = load.all
    errors = [o.status for o in outcomes if o.status is not None and o.status >= 500]
    assert errors == [], f"server errors: {collections.Counter(errors)}"
    return [o.request_id for o in outcomes if o.status == 200]


def reconcile(read_ids: Callable[[], list[str]], acked: list[str], timeout_s: float = 60) -> collections.Counter:
    """Wait until every acknowledged id is logged; the count of rows per id."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = collections.Counter(read_ids())
        if all(counts[i] for i in acked) or time.monotonic() > deadline:
            return counts


def assert_exactly_once(counts: collections.Counter, acked: list[str]) -> None:
    missing = [i for i in acked if counts[i] == 0]
    twice = [i for i in acked if counts[i] > 1]
    assert missing == [] and twice == [], f"{len(missing)} acknowledged rows missing, {len(twice)} stored twice"


def readyz(svc: Service) -> dict:
    r = httpx.get(f"{svc.base}/readyz", timeout=5)
    assert r.status_code == 200, r.text  # the log never makes the service unready
    return r.json()


def metric(svc: Service, name: str) -> float:
    for line in httpx.get(f"{svc.base}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def wait_for(check: Callable[[], bool], timeout_s: float, what: str, state: Callable[[], object] = str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {state()}"
        time.sleep(0.2)


def children(svc: Service, module: str) -> list[psutil.Process]:
    """The server's live processes running `module` (a killed one is a zombie until reaped)."""
    found = []
    for p in psutil.Process(svc.proc.pid).children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE and module in " ".join(p.cmdline()):
                found.append(p)
        except psutil.Error:  # gone meanwhile
            continue
    return found


def test_postgres_restarted_and_paused_under_load_loses_no_acknowledged_row(champion_registry, tmp_path):
    with PostgresServer() as pg, RedisServer(tmp_path / "redis") as redis:
        env = {
            "FLIGHTPATH_PROFILE": "stack",
            "FLIGHTPATH_REDIS_URL": redis.url,
            "FLIGHTPATH_PREDICTION_LOG_URL": pg.url,
        }
        with serve(tmp_path / "home", champion_registry, **env) as svc:
            with Load(svc.base, FLIGHT) as load:
                time.sleep(2)
                pg.stop()
                time.sleep(3)
                down = readyz(svc)["prediction_log"]
                pg.start()
                time.sleep(2)
                pg.pause()
                time.sleep(4)
                paused = readyz(svc)
                pg.resume()
                time.sleep(2)
            acked = acknowledged(load)
            counts = reconcile(lambda: [r[0] for r in pg.query("SELECT request_id FROM predictions")], acked)
            after = readyz(svc)["prediction_log"]
    assert_exactly_once(counts, acked)
    assert down["shipper"]["database"]["ok"] is False, down
    assert paused["ready"] is True
    assert after["shipper"]["database"]["ok"] is True and after["ok"] is True
    print(f"FIGURE postgres restart + pause: {len(acked)} answered 200, all logged exactly once, 0 5xx")


def test_shipper_and_worker_killed_then_sigterm_under_load_lose_no_acknowledged_row(champion_registry, tmp_path):
    home = tmp_path / "home"
    with serve(home, champion_registry, FLIGHTPATH_SERVE_WORKERS="2") as svc:
        with Load(svc.base, FLIGHT) as load:
            time.sleep(2)
            (shipper,) = children(svc, "serving.log_shipper")
            shipper.kill()
            wait_for(lambda: len(children(svc, "serving.log_shipper")) == 1, 15, "the shipper to be restarted")
            time.sleep(1)
            worker = children(svc, "spawn_main")[0]  # a uvicorn worker (not the resource tracker)
            worker.kill()
            time.sleep(3)
            (shipper,) = children(svc, "serving.log_shipper")
            os.killpg(svc.proc.pid, signal.SIGTERM)  # as Ctrl-C does: the whole group at once
            svc.proc.wait(timeout=60)
        acked = acknowledged(load)
        shipper.wait(timeout=20)  # its last pass comes after the workers', then it stops with the server
    counts = collections.Counter(r["request_id"] for r in read_rows(f"sqlite:///{home / 'predictions.db'}"))
    assert_exactly_once(counts, acked)
    assert len(acked) > 100, "the load never got going"
    assert "log shipper stops: 0 bytes of rows left in the spool" in svc.log.read_text()
    print(f"FIGURE shipper SIGKILL, worker SIGKILL, SIGTERM: {len(acked)} answered 200, all logged exactly once")


def _private_tmpfs(spool: Path, size: str) -> tuple[str, ...]:
    """A command prefix: the server in its own mount namespace with a tiny tmpfs on `spool`."""
    spool.mkdir(parents=True)
    unshare = ("unshare", "--mount") if os.geteuid() == 0 else ("unshare", "--mount", "--map-root-user")
    probe = subprocess.run(
        [*unshare, "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(spool)], capture_output=True
    )
    if probe.returncode != 0:
        unavailable(f"cannot mount a tmpfs in a private namespace: {probe.stderr.decode().strip()}")
    script = 'mount -t tmpfs -o size="$1" tmpfs "$2" && shift 2 && exec "$@"'
    return (*unshare, "sh", "-c", script, "sh", size, str(spool))


def test_a_full_disk_under_the_spool_is_answered_through_and_recovers_by_itself(champion_registry, tmp_path):
    spool = tmp_path / "spool"
    pg = PostgresServer()  # its port is the log's address; stopped: the database is away at first
    pg.start()  # initdb now, so that starting it later is quick
    pg.stop()
    try:
        env = {
            "FLIGHTPATH_PREDICTION_LOG_URL": pg.url,
            "FLIGHTPATH_PREDICTION_SPOOL_DIR": str(spool),
            # Segments well under the disk: the shipper frees space while the worker writes on.
            "FLIGHTPATH_PREDICTION_SPOOL_SEGMENT_KB": "128",
        }
        with serve(tmp_path / "home", champion_registry, prefix=_private_tmpfs(spool, "1m"), **env) as svc:
            # Paced: a 1 MiB disk drains about 1 MiB per retry second once the database is back, and
            # the memory backlog holds 10k rows; a back-to-back load on a fast machine (~2,000 rows/s,
            # seen in CI) outgrows both, which no spool on such a disk could survive. ~750 rows/s at most.
            with Load(svc.base, FLIGHT, pause_s=0.004) as load:
                wait_for(lambda: readyz(svc)["prediction_log"]["ok"] is False, 60, "the spool to fill the disk")
                time.sleep(2)
                full = readyz(svc)["prediction_log"]
                spool_ok = metric(svc, "flightpath_prediction_spool_ok")
                pg.start()  # the shipper loads the spool and deletes it: space returns
                log_state = lambda: readyz(svc)["prediction_log"]  # noqa: E731
                wait_for(lambda: log_state()["ok"] is True, 60, "the spool to recover", log_state)
                wait_for(lambda: readyz(svc)["prediction_log"]["backlog_rows"] == 0, 30, "the backlog to be written")
                time.sleep(1)
            acked = acknowledged(load)
            counts = reconcile(lambda: [r[0] for r in pg.query("SELECT request_id FROM predictions")], acked)
    finally:
        pg.__exit__()
    assert "No space left" in full["detail"] and full["backlog_rows"] > 0, full
    assert spool_ok == 0
    assert_exactly_once(counts, acked)
    print(
        f"FIGURE disk full under the spool: {len(acked)} answered 200 (0 5xx), {full['backlog_rows']} rows "
        "held in memory at the check, all logged exactly once after space returned"
    )
