"""A real `flightpath serve` (`python -m cli serve`) process for tests: start it on a free port, wait for
/readyz, SIGKILL its process group at the end (workers, model sync and log shipper included).

    with serve(tmp_path / "home", registry, FLIGHTPATH_SERVE_WORKERS="2") as svc:
        httpx.get(f"{svc.base}/metrics")
        with Load(svc.base, FLIGHT) as load:     # 3 client threads until the block ends
            ...
        load.all                                 # every request's outcome, with its X-Request-ID
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from serving_fakes import Registry

from flightpath.processes import NotReady, free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 90


CLIENT_THREADS = 3
CONNECTION_ERRORS = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


@dataclass
class Outcome:
    sent: float  # time.monotonic() when the request was sent
    status: int | None  # None: no response (connection error)
    body: dict | None = None
    error: str | None = None
    request_id: str = ""  # unique per request: the prediction log is reconciled by it


@dataclass
class Load:
    """CLIENT_THREADS threads posting `path` back to back until stopped (or `pause_s` apart); one
    outcome list per thread."""

    base: str
    json: dict
    path: str = "/v1/predict"
    pause_s: float = 0.0
    per_thread: list[list[Outcome]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _run(self, out: list[Outcome]) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                request_id = uuid.uuid4().hex
                try:
                    r = client.post(self.path, json=self.json, headers={"X-Request-ID": request_id})
                except CONNECTION_ERRORS as exc:
                    out.append(Outcome(sent, None, error=type(exc).__name__, request_id=request_id))
                    time.sleep(0.05)
                    continue
                body = r.json() if r.headers.get("content-type", "").startswith("application/json") else None
                out.append(Outcome(sent, r.status_code, body, request_id=request_id))
                if self.pause_s:
                    time.sleep(self.pause_s)

    def __enter__(self) -> Load:
        for _ in range(CLIENT_THREADS):
            out: list[Outcome] = []
            self.per_thread.append(out)
            t = threading.Thread(target=self._run, args=(out,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)

    @property
    def all(self) -> list[Outcome]:
        return [o for per in self.per_thread for o in per]


@dataclass
class Service:
    proc: subprocess.Popen
    base: str
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _environment(home: Path, registry: Registry, port: int, env: dict[str, str]) -> dict[str, str]:
    # The caller's FLIGHTPATH_*/MLFLOW_*/PROMETHEUS_* variables must not leak into the service.
    prefixes = ("FLIGHTPATH_", "MLFLOW_", "PROMETHEUS_")
    environ = {k: v for k, v in os.environ.items() if not k.upper().startswith(prefixes)}
    environ.update(
        {
            "FLIGHTPATH_HOME": str(home),
            "FLIGHTPATH_SERVE_PORT": str(port),
            "MLFLOW_TRACKING_URI": registry.tracking_uri,
            "FLIGHTPATH_MODEL_VERIFY_KEY": str(registry.verify_key),
            "FLIGHTPATH_RELOAD_INTERVAL_S": "60",
            **env,
        }
    )
    return environ


def _wait_ready(service: Service) -> None:
    try:
        wait_until_ready(f"{service.base}/readyz", service.proc, READY_TIMEOUT_S, service.tail)
    except NotReady as exc:
        raise AssertionError(str(exc)) from None


@contextmanager
def serve(home: Path, registry: Registry, prefix: tuple[str, ...] = (), **env: str) -> Iterator[Service]:
    """Start the service on a free port; wait for /readyz; SIGKILL the group if still alive at the end.
    `prefix` runs it under another command (a private mount namespace, say)."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "cli", "serve"],
            cwd=ROOT,
            env=_environment(home, registry, port, env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    service = Service(proc, f"http://127.0.0.1:{port}", log)
    try:
        _wait_ready(service)
        yield service
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
