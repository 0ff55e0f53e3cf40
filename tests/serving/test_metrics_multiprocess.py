"""/metrics with one worker (a registry per app) and with several (prometheus multiprocess mode).

The in-process tests play two workers by giving prometheus_client a process identifier per
"worker" (its files are named by it); one of them is a real sleeping process, so killing it makes
the worker dead the way a crash would. The live tests run `flightpath serve` with two workers.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from live_service import Service, serve
from prometheus_client import values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from serving_fakes import FLIGHT, build_model, copy_registry

from serving.metrics import MULTIPROC_ENV, SERVING_MULTIPROC_ENV, ServingMetrics
from serving.server import fresh_multiproc_dir

SHA = "ab" * 32
REQUESTS = 40
SCRAPES = 8


def samples(text: str, name: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def value(text: str, name: str, **labels: str) -> float:
    """The one sample of `name` whose labels include `labels` (0 when there is none)."""
    found = [s.value for s in samples(text, name) if labels.items() <= s.labels.items()]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else 0.0


def render(metrics: ServingMetrics) -> str:
    return metrics.render()[0].decode()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    """A live process whose pid a simulated worker can borrow (kill it to make that worker dead)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait(timeout=10)


# --- one worker: a registry per app ---------------------------------------------------------------
def test_without_a_multiproc_dir_each_app_has_its_own_registry(monkeypatch, tmp_path):
    monkeypatch.delenv(SERVING_MULTIPROC_ENV, raising=False)
    # What importing feast.metrics does to any process (Feast 0.67): not our workers' directory.
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    a, b = ServingMetrics(), ServingMetrics()
    assert a.multiprocess_dir is None and a.registry is not b.registry
    a.rejected.labels(reason="overload").inc(3)
    a.set_model("flight-delay", "1", SHA, "registry")
    a.set_model("flight-delay", "2", SHA, "registry")
    assert value(render(a), "flightpath_requests_rejected_total", reason="overload") == 3
    assert value(render(b), "flightpath_requests_rejected_total", reason="overload") == 0
    info = samples(render(a), "flightpath_model_info")
    assert [(s.labels["version"], s.value) for s in info] == [("2", 1.0)]  # v1 is gone, not 0
    assert "pid" not in info[0].labels
    assert samples(render(b), "flightpath_model_info") == []


def test_a_multiproc_dir_set_after_prometheus_was_imported_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))  # ValueClass stays the in-memory one
    monkeypatch.setenv(SERVING_MULTIPROC_ENV, str(tmp_path))
    with pytest.raises(RuntimeError, match="after prometheus_client was imported"):
        ServingMetrics()


# --- several workers, simulated in one process ----------------------------------------------------
@pytest.fixture
def as_worker(monkeypatch, tmp_path) -> Callable[[int], ServingMetrics]:
    """as_worker(pid): the ServingMetrics a worker with that pid would create."""
    path = tmp_path / "prometheus-multiproc"
    path.mkdir()
    monkeypatch.setenv(MULTIPROC_ENV, str(path))
    monkeypatch.setenv(SERVING_MULTIPROC_ENV, str(path))

    def make(pid: int) -> ServingMetrics:
        # What importing prometheus_client under PROMETHEUS_MULTIPROC_DIR does, with a chosen pid.
        monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue(lambda: pid))
        return ServingMetrics()

    return make


def test_set_model_in_multiprocess_mode_turns_the_old_version_to_zero(as_worker):
    worker = as_worker(os.getpid())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # clear() would warn: it cannot delete from the files
        worker.set_model("flight-delay", "1", SHA, "registry")
        worker.set_model("flight-delay", "2", SHA, "registry")
    info = {s.labels["version"]: s.value for s in samples(render(worker), "flightpath_model_info")}
    assert info == {"1": 0.0, "2": 1.0}


def test_gauges_combine_workers_by_their_mode_and_a_dead_worker_drops_out(as_worker, sleeper):
    a = as_worker(os.getpid())
    a.set_model("flight-delay", "1", SHA, "registry")
    a.in_flight.inc()
    a.online_store_up.set(1)
    a.feature_event_time.labels(view="weather").set(2000.0)
    a.rejected.labels(reason="overload").inc()

    b = as_worker(sleeper.pid)  # reloaded to v2 already; sees the store down; read last
    b.set_model("flight-delay", "1", SHA, "registry")
    b.set_model("flight-delay", "2", SHA, "registry")
    b.in_flight.inc(2)
    b.online_store_up.set(0)
    b.feature_event_time.labels(view="weather").set(1000.0)
    b.rejected.labels(reason="overload").inc(2)

    text = render(a)  # any worker renders the same merge
    assert value(text, "flightpath_requests_in_flight") == 3  # livesum
    live = {(s.labels["pid"], s.labels["version"]): s.value for s in samples(text, "flightpath_model_info")}
    assert live == {(str(os.getpid()), "1"): 1.0, (str(sleeper.pid), "1"): 0.0, (str(sleeper.pid), "2"): 1.0}
    assert value(text, "flightpath_online_store_up") == 0  # livemin: one worker sees it down
    assert value(text, "flightpath_model_loaded") == 1
    # mostrecent: the last read wins, although it returned an older event time than a's
    assert value(text, "flightpath_feature_event_timestamp_seconds", view="weather") == 1000.0
    assert value(text, "flightpath_requests_rejected_total", reason="overload") == 3
    assert render(b) == render(a)

    sleeper.kill()
    sleeper.wait(timeout=10)
    text = render(a)
    assert value(text, "flightpath_requests_in_flight") == 1
    assert {s.labels["pid"] for s in samples(text, "flightpath_model_info")} == {str(os.getpid())}
    assert value(text, "flightpath_online_store_up") == 1
    assert value(text, "flightpath_requests_rejected_total", reason="overload") == 3  # counts stay


def test_fresh_multiproc_dir_removes_stale_runs_but_not_a_running_one(tmp_path, sleeper):
    base = tmp_path / "prometheus-multiproc"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    for name in (dead.stdout.strip(), str(os.getpid()), str(sleeper.pid), "notes"):
        (base / name).mkdir(parents=True)
        (base / name / "counter_1.db").write_bytes(b"stale")
    path = fresh_multiproc_dir(tmp_path)
    assert path == base / str(os.getpid()) and list(path.iterdir()) == []
    assert sorted(p.name for p in base.iterdir()) == sorted([str(os.getpid()), str(sleeper.pid), "notes"])
    assert (base / str(sleeper.pid) / "counter_1.db").exists()


# --- several workers, for real --------------------------------------------------------------------
ROUTE = {"route": "/v1/predict", "method": "POST", "status": "200"}
COUNT = "flightpath_request_duration_seconds_count"


@pytest.fixture(scope="module")
def two_workers(_registry_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Path]]:
    root = tmp_path_factory.mktemp("two-workers")
    registry = copy_registry(_registry_template, root / "mlflow")
    registry.register(build_model())
    with serve(root / "home", registry, FLIGHTPATH_SERVE_WORKERS="2") as svc:
        yield svc, root / "home" / "prometheus-multiproc" / str(svc.proc.pid)


def scrape(svc: Service) -> str:
    r = httpx.get(f"{svc.base}/metrics", timeout=5)  # a new connection: any worker may answer
    assert r.status_code == 200
    return r.text


def requests_per_worker(metrics_dir: Path, **labels: str) -> dict[str, float]:
    """Requests (with these labels) in each worker's own file: what that worker alone would report."""
    out = {}
    for f in glob.glob(str(metrics_dir / "histogram_*.db")):
        pid = Path(f).stem.split("_")[1]
        out[pid] = sum(
            s.value
            for m in MultiProcessCollector.merge([f])
            for s in m.samples
            if s.name == COUNT and labels.items() <= s.labels.items()
        )
    return {pid: n for pid, n in out.items() if n}


def live_model_pids(text: str) -> set[str]:
    return {s.labels["pid"] for s in samples(text, "flightpath_model_info") if s.value == 1}


def both_workers_answer(svc: Service, metrics_dir: Path) -> bool:
    """True once both live workers have answered a request (each call sends one more)."""
    live = live_model_pids(scrape(svc))
    return len(live) == 2 and live <= set(requests_per_worker(metrics_dir))


def wait_for(check: Callable[[], bool], what: str, svc: Service, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout_s} s:\n{svc.tail()}"
        time.sleep(0.2)


@pytest.mark.integration
def test_every_scrape_counts_the_requests_of_both_workers(two_workers):
    svc, metrics_dir = two_workers
    # /readyz said yes as soon as one worker was up; the other may still be loading its model,
    # not accepting yet, and would get none of the requests below.
    wait_for(lambda: both_workers_answer(svc, metrics_dir), "both workers answer", svc)
    before = value(scrape(svc), COUNT, **ROUTE)
    per_worker_before = requests_per_worker(metrics_dir, **ROUTE)
    for _ in range(REQUESTS):  # a new connection each time, so the kernel spreads them
        assert httpx.post(f"{svc.base}/v1/predict", json=FLIGHT, timeout=10).status_code == 200
    per_worker = requests_per_worker(metrics_dir, **ROUTE)
    served = {pid: n - per_worker_before.get(pid, 0) for pid, n in per_worker.items()}
    served = {pid: n for pid, n in served.items() if n}
    assert sum(served.values()) == REQUESTS
    assert len(served) == 2, f"one worker took every request: {served}"  # else this proves nothing

    # A worker records a request just after sending its response: wait for the last one to land.
    wait_for(lambda: value(scrape(svc), COUNT, **ROUTE) == before + REQUESTS, "the count reached N", svc, timeout_s=10)
    for _ in range(SCRAPES):
        text = scrape(svc)
        assert value(text, COUNT, **ROUTE) == before + REQUESTS  # one worker alone has less
        assert value(text, "flightpath_requests_in_flight") == 1  # this scrape, in one worker
        assert value(text, "flightpath_model_loaded") == 1
        info = [s for s in samples(text, "flightpath_model_info") if s.value == 1]
        assert {s.labels["pid"] for s in info} == set(served)  # each worker, named by its pid
        assert {s.labels["version"] for s in info} == {"1"}


@pytest.mark.integration
def test_a_killed_worker_drops_out_of_the_gauges_and_keeps_its_counts(two_workers):
    svc, _ = two_workers
    text = scrape(svc)
    pids = live_model_pids(text)
    assert len(pids) == 2, text
    victim = min(pids)
    before = value(text, COUNT, **ROUTE)
    os.kill(int(victim), signal.SIGKILL)  # no exit hook runs: like the OOM killer

    # uvicorn's supervisor starts a replacement, which loads the model and shows up on its own.
    def replaced() -> bool:
        live = live_model_pids(scrape(svc))
        return len(live) == 2 and victim not in live

    wait_for(replaced, "the killed worker was replaced and forgotten", svc)
    text = scrape(svc)
    assert victim not in {s.labels["pid"] for s in samples(text, "flightpath_model_info")}
    assert value(text, COUNT, **ROUTE) == before  # the dead worker's requests still count
