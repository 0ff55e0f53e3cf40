"""`progress.quiet`: everything written to stdout/stderr goes to the log file, progress to the terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flightpath.settings import PROJECT_ROOT

SCRIPT = """
import logging, os, subprocess, sys
from pathlib import Path
from pipelines import progress

logging.basicConfig(level=logging.INFO)
with progress.quiet(Path(sys.argv[1])):
    with progress.stage("ingest"):
        print("a library printing")
        logging.getLogger("feast").info("a library logging")
        os.write(2, b"raw bytes on fd 2\\n")
        subprocess.run([sys.executable, "-c", "print('a child process')"], check=True)
try:
    with progress.quiet(Path(sys.argv[1])):
        with progress.stage("train"):
            raise RuntimeError("boom")
except RuntimeError:
    print("terminal is back")
"""


def test_quiet_sends_every_writer_to_the_log_and_keeps_progress_on_the_terminal(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(log)], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    terminal = out.stdout + out.stderr
    assert "  ingest ..." in terminal and "  ingest done (" in terminal
    assert "  train FAILED after" in terminal and "terminal is back" in out.stdout
    logged = log.read_text()
    for line in ("a library printing", "a library logging", "raw bytes on fd 2", "a child process"):
        assert line in logged and line not in terminal, line
    assert "ingest ..." not in logged
