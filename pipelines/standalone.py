"""`make airflow`: `airflow standalone` that stops, and leaves nothing behind, on Ctrl-C.

    python -m pipelines.standalone          # the environment from pipelines.airflow_env, exported first

Why a wrapper: Ctrl-C in a terminal sends SIGINT to every process of the foreground group, so
`airflow standalone` and each component it started get one; standalone then stops every component
again with SIGTERM. The dag-processor thus receives two signals, and in Airflow 3.3.2 its handler
logs: the second signal, arriving while the first handler holds the log's lock, deadlocks it (seen
with py-spy: two `_exit_gracefully` frames inside structlog's `WriteLogger.msg`). `make airflow`
never returned and the dag-processor stayed alive. Here standalone runs in its own session, out of
the terminal's reach; this process alone gets Ctrl-C and passes one SIGINT to standalone, which
stops each component once. Whatever is still alive `grace_s` later is killed with its group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType


def run(argv: Sequence[str] = ("airflow", "standalone"), grace_s: float = 30.0) -> int:
    """Run `argv` in a session of its own until it exits; SIGINT/SIGTERM here stop it as above.

    Returns:
        Its exit code, or 130 (interrupted) if it had to be killed.
    """
    proc = subprocess.Popen(list(argv), start_new_session=True)
    stop_requested: list[float] = []  # monotonic time of the first stop

    def stop(signum: int, frame: FrameType | None) -> None:
        if stop_requested:  # a second Ctrl-C: do not wait for the grace period
            _kill_group(proc.pid)
            return
        stop_requested.append(time.monotonic())
        print("\nstopping Airflow (Ctrl-C again to kill it now)", file=sys.stderr, flush=True)
        try:
            proc.send_signal(signal.SIGINT)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code: int | None = None
    while code is None:
        try:
            code = proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            if stop_requested and time.monotonic() - stop_requested[0] > grace_s:
                print(f"Airflow still running {grace_s:.0f} s after the stop: killing it", file=sys.stderr, flush=True)
                _kill_group(proc.pid)
                proc.wait()
                code = 130
    # Components started by standalone share its process group; none may outlive it.
    _kill_group(proc.pid)
    return code


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


if __name__ == "__main__":
    raise SystemExit(run())
