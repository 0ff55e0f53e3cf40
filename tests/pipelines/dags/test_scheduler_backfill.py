"""`airflow backfill create` through a real scheduler writes the same lake as `make backfill`.

Starts `airflow standalone` (scheduler, dag-processor, api-server, triggerer) in its own process
group, on free ports, with its own AIRFLOW_HOME, and stops the whole group at the end.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from backfill_helpers import lake_digest

from flightpath.processes import free_port, stop_process_group
from flightpath.settings import Settings
from pipelines import airflow_env, steps

START, END = dt.date(2013, 1, 1), dt.date(2013, 1, 2)


def _airflow(env: dict[str, str], *args: str, check: bool = True) -> str:
    # The standalone scheduler shares the SQLite metadata DB with this CLI and can hold its write lock
    # longer than sqlite3's 5 s busy timeout ("database is locked", seen once in a full test run):
    # that one error is retried; a command that failed that way changed nothing.
    for attempt in range(4):
        out = subprocess.run([airflow_env.airflow_bin(), *args], env=env, capture_output=True, text=True, timeout=120)
        if out.returncode == 0 or "database is locked" not in out.stderr or attempt == 3:
            break
        time.sleep(3)
    if check and out.returncode != 0:
        raise AssertionError(f"airflow {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return out.stdout


@pytest.mark.integration
def test_scheduler_backfill_matches_the_direct_backfill(tmp_path: Path) -> None:
    # Its own AIRFLOW_HOME, explicitly: other tests in this process export one (Settings reads it).
    s = Settings(home=tmp_path / "via_scheduler", AIRFLOW_HOME=tmp_path / "via_scheduler" / "airflow")  # type: ignore[call-arg]
    env = {
        **os.environ,
        **airflow_env.standalone_env(s, free_port(), free_port(), free_port()),
        "FLIGHTPATH_HOME": str(s.home),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    s.airflow_home.mkdir(parents=True)
    log = (tmp_path / "standalone.log").open("w")
    proc = subprocess.Popen(
        [airflow_env.airflow_bin(), "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 180
        while "flightpath_daily" not in _airflow(env, "dags", "list", check=False):
            assert proc.poll() is None, (tmp_path / "standalone.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the DAG was not parsed within 180 s"
            time.sleep(3)
        _airflow(env, "dags", "unpause", "flightpath_daily")
        # With a data-interval timetable, --to-date is where the last interval *ends*: END + 1 day.
        _airflow(
            env,
            "backfill",
            "create",
            "--dag-id",
            "flightpath_daily",
            "--from-date",
            START.isoformat(),
            "--to-date",
            (END + dt.timedelta(days=1)).isoformat(),
            "--reprocess-behavior",
            "failed",
        )
        deadline = time.monotonic() + 300
        while True:
            runs = _airflow(env, "dags", "list-runs", "flightpath_daily", "-o", "plain", check=False)
            states = [line.split()[2] for line in runs.splitlines() if line.startswith("flightpath_daily")]
            if len(states) == 2 and all(st == "success" for st in states):
                break
            assert "failed" not in states, runs
            assert time.monotonic() < deadline, f"backfill not done within 300 s: {runs}"
            time.sleep(5)
    finally:
        stop_process_group(proc)
        log.close()

    direct = Settings(home=tmp_path / "direct")
    steps.ingest_window(direct, START, END)
    steps.features_window(direct, START, END)
    assert lake_digest(s.lake_dir) == lake_digest(direct.lake_dir)
    assert any(k.startswith("curated/flights/date=2013-01-02") for k in lake_digest(s.lake_dir))
