"""Child processes the project starts itself (the demo's service, Airflow standalone in tests).

Each is started in its own session (`start_new_session=True`) so that stopping it stops everything
it spawned: `airflow standalone` and uvicorn with workers leave children behind on a plain SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it), for a server we are about to start.

    Another process could take it before ours binds; on one machine that is rare enough for tests
    and benchmarks, which is all that uses this.
    """
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def stop_process_group(proc: subprocess.Popen, timeout_s: float = 30.0) -> int | None:
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
