"""Run the service under uvicorn: `run(settings)` is what `flightpath serve` calls.

One worker: the app object is built here with these exact settings. Several workers: uvicorn
spawns processes that import `serving.server:app_from_environment`, so the settings travel to them
as JSON in an environment variable (each worker then loads its own model and ORT session), and so
does PROMETHEUS_MULTIPROC_DIR: a fresh directory per run where every worker keeps its metrics, so
/metrics answers for the whole server (serving/metrics.py).

Shutdown (one worker, our Kubernetes layout): SIGTERM -> draining (/readyz 503) while requests are
still served for `drain_seconds` -> uvicorn stops accepting, finishes in-flight requests (up to
20 s) -> lifespan shutdown closes the prediction spool -> the log shipper's last pass loads what
is left. A second SIGTERM/SIGINT skips the drain.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import uvicorn
from fastapi import FastAPI

from flightpath import logs
from flightpath.settings import Settings, get_settings
from serving.app import create_app
from serving.metrics import MULTIPROC_ENV, SERVING_MULTIPROC_ENV, process_alive
from serving.sidecar import SETTINGS_ENV

GRACEFUL_TIMEOUT_S = 20  # in-flight requests get this long after the listener closes
CHILD_RESTART_CHECK_S = 2.0  # how often the server checks that its model-sync and log-shipper processes still run
CHILD_STOP_TIMEOUT_S = 15  # a child's last pass (the shipper's final load) before it is killed

log = logging.getLogger(__name__)


def _settings_json(settings: Settings) -> str:
    # by_alias: fields such as MLFLOW_TRACKING_URI are only settable by their alias.
    return json.dumps(settings.model_dump(mode="json", by_alias=True, exclude_none=True))


def app_from_environment() -> FastAPI:
    """uvicorn factory for worker processes."""
    raw = os.environ.get(SETTINGS_ENV)
    settings = Settings(**json.loads(raw)) if raw else get_settings()
    if settings.log_json:  # a spawned worker does not inherit the parent's logging set-up
        logs.configure(json_lines=True)
    return create_app(settings)


def fresh_multiproc_dir(home: Path) -> Path:
    """An empty directory for this run's metric files: <home>/prometheus-multiproc/<our pid>.

    Files left by an earlier run would be merged into this run's numbers (counters that start
    above zero, a dead worker's model version), so a directory whose server is gone is removed,
    and so is one named after our own pid (a container restarted in the same pod is pid 1 again).
    A directory of another server still running on the same home is left alone.
    """
    base = home / "prometheus-multiproc"
    base.mkdir(parents=True, exist_ok=True)
    for old in base.iterdir():
        if old.name.isdigit() and (int(old.name) == os.getpid() or not process_alive(int(old.name))):
            shutil.rmtree(old, ignore_errors=True)
    path = base / str(os.getpid())
    path.mkdir()
    return path


class DrainingServer(uvicorn.Server):
    """uvicorn.Server that turns unready first and exits `drain_s` later on the first SIGTERM."""

    def __init__(self, config: uvicorn.Config, app: FastAPI, drain_s: float) -> None:
        super().__init__(config)
        self._app = app
        self._drain_s = drain_s
        self._drain_started = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        runtime = getattr(self._app.state, "runtime", None)
        if runtime is not None:
            runtime.draining = True  # /readyz answers 503 from now on
        if self._drain_started or self._drain_s <= 0 or sig != signal.SIGTERM:
            super().handle_exit(sig, frame)
            return
        self._drain_started = True
        log.info(
            "SIGTERM: draining for %.1f s before closing the listener",
            self._drain_s,
            extra={"fields": {"event": "drain_start", "drain_s": self._drain_s}},
        )
        timer = threading.Timer(self._drain_s, super().handle_exit, (sig, frame))
        timer.daemon = True
        timer.start()


def run(settings: Settings | None = None) -> None:
    """Serve until SIGTERM/SIGINT; see the module docstring for the shutdown sequence."""
    settings = settings or get_settings()
    if settings.log_json:
        logs.configure(json_lines=True)
    common = dict(
        host=settings.serve_host,
        port=settings.serve_port,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_TIMEOUT_S,
        log_level="info",
        # None: keep our root handler (JSON lines) instead of uvicorn's own formatters.
        log_config=None if settings.log_json else uvicorn.config.LOGGING_CONFIG,
    )
    with log_shipper_process(settings), model_sync_process(settings):
        if settings.serve_workers == 1:
            app = create_app(settings)
            DrainingServer(uvicorn.Config(app, **common), app, settings.drain_seconds).run()  # type: ignore[arg-type]
        else:
            _run_workers(settings, common)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM it when its parent dies (Linux's PR_SET_PDEATHSIG).

    uvicorn re-raises the SIGTERM it handled once it has shut down, which ends this process before
    any `finally` could stop the child; the kernel's signal does not depend on our code running.
    The child also stops by itself when it notices it was orphaned (serving/model_sync.py).
    """
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


@contextlib.contextmanager
def child_process(module: str, settings: Settings, *, own_session: bool = False) -> Iterator[None]:
    """`python -m <module>` beside the workers, with the server's settings: restarted if it dies (a
    crash there must not freeze the model or stop the log), stopped with the server.

    `own_session`: signals sent to the server's process group (Ctrl-C in a terminal, `kill -- -pgid`)
    do not reach it; it stops only when the server stops it or dies, i.e. after the workers."""
    env = {**os.environ, SETTINGS_ENV: _settings_json(settings)}
    stop = threading.Event()
    state: dict[str, subprocess.Popen[bytes]] = {}

    def start() -> None:
        state["proc"] = subprocess.Popen(
            [sys.executable, "-m", module], env=env, preexec_fn=_die_with_parent, start_new_session=own_session
        )

    def watch() -> None:
        while not stop.wait(CHILD_RESTART_CHECK_S):
            code = state["proc"].poll()
            if code is not None:
                log.error("%s exited with %s; starting it again", module, code)
                start()

    start()
    watcher = threading.Thread(target=watch, name=f"{module}-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join(timeout=5)
        proc = state["proc"]
        proc.terminate()
        try:
            proc.wait(timeout=CHILD_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def model_sync_process(settings: Settings) -> Iterator[None]:
    """The server's model-sync process (serving/model_sync.py), when the workers follow the folder."""
    if settings.model_source != "folder":
        yield
        return
    with child_process("serving.model_sync", settings):
        yield


@contextlib.contextmanager
def log_shipper_process(settings: Settings) -> Iterator[None]:
    """The server's log shipper (serving/log_shipper.py): started first and stopped last, in a
    session of its own, so its final pass comes after the workers' last row, however the server
    was stopped (a Ctrl-C reaches the whole group at once)."""
    with child_process("serving.log_shipper", settings, own_session=True):
        yield


def _run_workers(settings: Settings, common: dict[str, object]) -> None:
    """Several uvicorn workers sharing one listening socket and one metrics directory.

    Each worker process gets uvicorn's plain Server: no drain delay (readyz turns 503 only at the
    lifespan shutdown). One worker per pod is the layout that gets the full drain.
    """
    metrics_dir = fresh_multiproc_dir(settings.home)
    # Set before uvicorn spawns the workers: prometheus_client reads it when a worker imports it.
    os.environ[MULTIPROC_ENV] = os.environ[SERVING_MULTIPROC_ENV] = str(metrics_dir)
    os.environ[SETTINGS_ENV] = _settings_json(settings)
    log.info(
        "%d workers; metrics merged from %s",
        settings.serve_workers,
        metrics_dir,
        extra={"fields": {"event": "multiprocess_metrics", "dir": str(metrics_dir)}},
    )
    try:
        uvicorn.run(
            "serving.server:app_from_environment",
            factory=True,
            workers=settings.serve_workers,
            **common,  # type: ignore[arg-type]
        )
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        os.environ.pop(SERVING_MULTIPROC_ENV, None)
        shutil.rmtree(metrics_dir, ignore_errors=True)
