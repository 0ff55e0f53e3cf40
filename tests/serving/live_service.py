"""A real `flightpath serve` (`python -m cli serve`) process for tests: start it on a free port, wait for
/readyz, SIGKILL its process group at the end (workers included).

    with serve(tmp_path / "home", registry, FLIGHTPATH_SERVE_WORKERS="2") as svc:
        httpx.get(f"{svc.base}/metrics")
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from serving_fakes import Registry

from flightpath.processes import NotReady, free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 90


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
def serve(home: Path, registry: Registry, **env: str) -> Iterator[Service]:
    """Start the service on a free port; wait for /readyz; SIGKILL the group if still alive at the end."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve"],
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
