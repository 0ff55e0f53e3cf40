"""What the server's helper processes (model sync, log shipper) share: settings, stopping, orphan checks.

    settings = settings_from_environment()
    stop = StopFlag.install(grace_s=2.0)      # SIGTERM/SIGINT: stop soon; hard stop grace_s later
    parent = os.getppid()
    while not stop.wait(1.0):
        if orphaned(parent): break
        ...

Kept apart and small on purpose: the log shipper imports this, not the model-sync module (which
would bring ONNX Runtime and the MLflow client into a process that needs neither).
"""

from __future__ import annotations

import json
import os
import signal
import time
from types import FrameType

from flightpath.settings import Settings, get_settings

# The server's settings travel to its child processes (model sync, log shipper, uvicorn workers) as JSON.
SETTINGS_ENV = "FLIGHTPATH_SERVING_SETTINGS_JSON"
ORPHAN_CHECK_S = 1.0  # how often a helper checks that its server is still there
# Helpers yield the CPU to the workers: on a CPU they share (a pod's limit, `taskset` in the bench)
# the scheduler gives a nice-0 worker ~9x the share of a nice-10 helper, so a shipper pass or a
# model download stretches a little instead of stalling the requests that arrive meanwhile.
HELPER_NICENESS = 10


def lower_priority() -> None:
    try:
        os.nice(HELPER_NICENESS)
    except OSError:  # not allowed here: run at the same priority, which is only slower
        pass


def settings_from_environment() -> Settings:
    raw = os.environ.get(SETTINGS_ENV)
    return Settings(**json.loads(raw)) if raw else get_settings()


def orphaned(parent: int) -> bool:
    """The server that started us is gone (killed without stopping us: SIGKILL, OOM)."""
    return os.getppid() != parent


class StopFlag:
    """Set by SIGTERM/SIGINT.

    Not a threading.Event: a signal handler runs on the main thread, between two bytecodes, and the
    main thread may be inside `Event.wait()` holding the Event's (non-reentrant) lock; `Event.set()`
    in the handler then waits for that lock for ever. A plain attribute and short sleeps cannot.
    `grace_s`: the handler also arms SIGALRM (async-signal-safe; its default action ends the
    process), so a stop that hangs (a registry call, a database that stopped answering) still ends.
    """

    def __init__(self) -> None:
        self.stopping = False

    @classmethod
    def install(cls, grace_s: float) -> StopFlag:
        flag = cls()

        def handler(signum: int, frame: FrameType | None) -> None:
            flag.stopping = True
            signal.alarm(max(1, round(grace_s)))

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, handler)
        return flag

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early once stopping; True when stopping."""
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))
        return self.stopping
