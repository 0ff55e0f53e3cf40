"""A throwaway redis-server for one test: own free port, own data dir, killable and restartable.

    with RedisServer(tmp_path / "redis") as redis:   # started, answering PING
        redis.url                                    # "127.0.0.1:<port>" (Feast's connection string)
        redis.kill()                                 # SIGKILL: the store "dies" mid-load
        redis.start()                                # same port, same data (the AOF survives SIGKILL)

The shared Redis on 6379 (tests/features) is never touched. Every write is fsynced to the
append-only file before it is acknowledged, so what was materialized is back after a SIGKILL.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from flightpath.processes import free_port
from tests.conftest import unavailable

BINARY = "redis-server"


def require_redis_server() -> str:
    """The redis-server binary; skip (locally) or fail (CI) when it is not on PATH."""
    path = shutil.which(BINARY)
    if path is None:
        unavailable(f"{BINARY} is not on PATH; install Redis to run this test")
    return path


def _ping(port: int) -> bool:
    """True once the server answers PING with PONG (not LOADING, not refused)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process at a time on a fixed port; see the module docstring."""

    def __init__(self, data_dir: Path, start_timeout_s: float = 10.0) -> None:
        self.binary = require_redis_server()
        self.port = free_port()
        self.data_dir = data_dir
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _args(self) -> list[str]:
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]

    def start(self) -> None:
        """Start (or restart, with the same data) and wait until it answers PING."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self._args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout_s
        while not _ping(self.port):
            assert self.proc.poll() is None, f"redis-server exited ({self.proc.returncode}):\n{self.log_tail()}"
            assert time.monotonic() < deadline, f"redis-server not answering within {self.start_timeout_s} s"
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL, no shutdown save: the store disappears as a crashed one would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log_tail(self) -> str:
        log = self.data_dir / "redis.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def __enter__(self) -> RedisServer:
        try:
            self.start()
        except BaseException:
            self.kill()  # started but never answered: __exit__ will not run
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
