"""The helpers' stop flag: SIGTERM stops the loop promptly; a stop that hangs is cut by the grace alarm."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LOOP = textwrap.dedent(
    """
    import sys, time
    from serving.sidecar import StopFlag
    stop = StopFlag.install(grace_s=float(sys.argv[1]))
    print("ready", flush=True)
    while not stop.wait(0.5):
        pass
    print("stopping", flush=True)
    time.sleep(float(sys.argv[2]))  # the last work; longer than the grace = hung
    print("stopped", flush=True)
    """
)


def _run(grace_s: float, last_work_s: float) -> tuple[int, str, float]:
    proc = subprocess.Popen(
        [sys.executable, "-c", LOOP, str(grace_s), str(last_work_s)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline() == "ready\n"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    return proc.returncode, out, time.monotonic() - started


def test_sigterm_stops_the_loop_and_lets_the_last_work_finish():
    code, out, took = _run(grace_s=5, last_work_s=0.2)
    assert code == 0 and out == "stopping\nstopped\n" and took < 3


def test_a_last_work_that_hangs_is_ended_by_the_grace_alarm():
    code, out, took = _run(grace_s=1, last_work_s=60)
    assert code == -signal.SIGALRM and out == "stopping\n" and took < 10


def test_helpers_run_at_a_lower_priority_than_the_workers():
    code = "import os; from serving.sidecar import lower_priority; lower_priority(); print(os.nice(0))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    from serving.sidecar import HELPER_NICENESS

    assert int(out.stdout) == min(19, os.nice(0) + HELPER_NICENESS)
