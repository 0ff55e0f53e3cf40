"""Child processes the project starts itself (the demo's service, Airflow standalone in tests).

Each is started in its own session (`start_new_session=True`) so that stopping it stops everything
it spawned: `airflow standalone` and uvicorn with workers leave children behind on a plain SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it), for a server we are about to start.

    Another process could take it before ours binds; on one machine that is rare enough for tests
    and benchmarks, which is all that uses this.
    """
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def stop_process_group(proc: subprocess.Popen[Any], timeout_s: float = 30.0) -> int | None:
    """SIGTERM the process group (graceful: uvicorn drains), SIGKILL it if still alive after timeout_s.

    Returns:
        The leader's exit code (None if it had to be killed and did not report one).
    """
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return proc.poll()
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=10)


class NotReady(RuntimeError):
    """A server we started exited, or did not answer its readiness URL in time."""


def wait_until(
    ready: Callable[[], bool],
    proc: subprocess.Popen[Any],
    timeout_s: float,
    what: str,
    describe: Callable[[], str] = lambda: "",
) -> None:
    """Poll `ready()` every 0.2 s until it returns True (the one "start a server, wait" loop).

    Raises:
        NotReady: `proc` exited first, or `timeout_s` passed; the message names `what` and ends with
            `describe()` (e.g. the tail of the server's log).
    """
    deadline = time.monotonic() + timeout_s
    while not ready():
        if proc.poll() is not None:
            raise NotReady(f"{what}: the server exited with code {proc.returncode} before it was ready\n{describe()}")
        if time.monotonic() > deadline:
            raise NotReady(f"{what}: not ready within {timeout_s:.0f} s\n{describe()}")
        time.sleep(0.2)


def wait_until_ready(
    url: str, proc: subprocess.Popen[Any], timeout_s: float, describe: Callable[[], str] = lambda: ""
) -> None:
    """Wait until GET `url` (e.g. a service's /readyz) answers 200; see `wait_until`."""
    import httpx  # only callers that start servers pay for it

    def answers() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(answers, proc, timeout_s, url, describe)
