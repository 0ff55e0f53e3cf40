from __future__ import annotations

import subprocess
import sys
import time

from flightpath.processes import stop_process_group


def test_stopping_the_group_stops_the_grandchildren_too() -> None:
    # A parent that starts a long-lived child and ignores SIGTERM itself is killed after the timeout.
    code = (
        "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print(c.pid, flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    child = int(proc.stdout.readline())  # type: ignore[union-attr]
    started = time.monotonic()
    stop_process_group(proc, timeout_s=1.0)
    assert proc.poll() is not None and time.monotonic() - started < 15
    time.sleep(0.2)
    alive = subprocess.run(["ps", "-o", "stat=", "-p", str(child)], capture_output=True, text=True).stdout.strip()
    assert alive in ("", "Z"), f"grandchild {child} still running ({alive})"


def test_free_port_is_free_and_bindable() -> None:
    import socket

    from flightpath.processes import free_port

    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # nobody holds it: we can listen on it ourselves
        s.listen()


def test_wait_until_returns_once_ready_and_names_what_failed() -> None:
    import pytest

    from flightpath.processes import NotReady, wait_until

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        calls = iter([False, False, True])
        wait_until(lambda: next(calls), sleeper, 10, "three polls")  # returns on the third
        with pytest.raises(NotReady, match=r"never: not ready within 0 s\nlog tail"):
            wait_until(lambda: False, sleeper, 0.3, "never", lambda: "log tail")
    finally:
        stop_process_group(sleeper)
    quitter = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    quitter.wait()
    with pytest.raises(NotReady, match="exited with code 3"):
        wait_until(lambda: False, quitter, 10, "quitter")
