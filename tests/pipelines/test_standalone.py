"""pipelines/standalone.py (make airflow): Ctrl-C reaches each Airflow component once, and nothing
outlives the wrapper. A fake `airflow standalone` stands in: like the real one, on SIGINT it
SIGTERMs its component, which records every signal it receives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

FAKE_STANDALONE = r"""
import signal, subprocess, sys, time
component = subprocess.Popen([sys.executable, "-c", COMPONENT, sys.argv[1]])
def stop(signum, frame):
    if sys.argv[2] == "stubborn":
        return                      # ignores the stop: the wrapper must kill it
    component.terminate()
    component.wait()
    sys.exit(0)
signal.signal(signal.SIGINT, stop)
open(sys.argv[1] + ".pids", "w").write(f"{component.pid}\n")
while True:
    time.sleep(0.1)
"""

COMPONENT = r"""
import signal, sys, time
log = sys.argv[1]
def record(signum, frame):
    open(log, "a").write(signal.Signals(signum).name + "\n")
    if signum == signal.SIGTERM:
        sys.exit(0)
signal.signal(signal.SIGINT, record)
signal.signal(signal.SIGTERM, record)
while True:
    time.sleep(0.1)
"""


def _start(tmp_path: Path, mode: str, grace_s: float = 30.0) -> tuple[subprocess.Popen[str], Path]:
    fake = tmp_path / "fake_standalone.py"
    fake.write_text(f"COMPONENT = {COMPONENT!r}\n{FAKE_STANDALONE}")
    log = tmp_path / "signals"
    code = (
        "from pipelines.standalone import run; import sys; "
        f"sys.exit(run([sys.executable, {str(fake)!r}, {str(log)!r}, {mode!r}], grace_s={grace_s}))"
    )
    # Its own group, as a terminal's foreground job is: Ctrl-C = SIGINT to that whole group.
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], start_new_session=True, text=True
    )
    deadline = time.monotonic() + 20
    while not (tmp_path / "signals.pids").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "fake standalone did not start"
        time.sleep(0.05)
    time.sleep(0.3)  # the component has installed its handlers
    return proc, log


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_stops_each_component_once(tmp_path: Path) -> None:
    proc, log = _start(tmp_path, "polite")
    component = int((tmp_path / "signals.pids").read_text())
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    assert proc.wait(timeout=20) == 0
    # One signal, from standalone: the terminal's SIGINT never reached it (the deadlock needed two).
    assert log.read_text().split() == ["SIGTERM"]
    assert not _alive(component)


def test_a_component_that_does_not_stop_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    proc, _ = _start(tmp_path, "stubborn", grace_s=1.0)
    component = int((tmp_path / "signals.pids").read_text())
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=20) == 130
    assert 1.0 <= time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while _alive(component) and time.monotonic() < deadline:  # reaped by init once killed
        time.sleep(0.05)
    assert not _alive(component)
