"""The `flightpath` console script (cli/main.py): how a user's mistake is reported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _flightpath(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLIGHTPATH_", "MLFLOW_"))}
    env["FLIGHTPATH_HOME"] = str(tmp_path / "home")
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_an_error_the_user_can_act_on_is_one_line_and_exit_1(tmp_path):
    result = _flightpath(tmp_path, "ingest", "--start", "2014-01-01", "--end", "2014-01-02")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (  # after the progress bar's lines
        "flightpath: 2014-01-01 is outside the data: days from 2013-01-01 to 2013-12-31 are allowed"
    )
    assert "Traceback" not in result.stderr
    lake = tmp_path / "home" / "lake"
    assert not [p for p in lake.rglob("*2014*")]  # no partition of the refused days was written


def test_verbose_keeps_the_traceback(tmp_path):
    result = _flightpath(tmp_path, "-v", "ingest", "--start", "2014-01-01", "--end", "2014-01-02")
    assert result.returncode == 1 and "Traceback" in result.stderr and "IngestError" in result.stderr
