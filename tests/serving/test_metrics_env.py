"""serving/metrics_env.py: a serving process keeps its metrics only in a directory the server set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from serving.metrics_env import (
    LEGACY_MULTIPROC_ENV,
    MULTIPROC_ENV,
    SERVING_MULTIPROC_ENV,
    drop_foreign_multiproc_dir,
)


def test_a_directory_handed_down_by_another_library_is_dropped() -> None:
    env = {MULTIPROC_ENV: "/tmp/feast_metrics_x", LEGACY_MULTIPROC_ENV: "/tmp/feast_metrics_x", "PATH": "/bin"}
    assert drop_foreign_multiproc_dir(env) == [
        f"{MULTIPROC_ENV}=/tmp/feast_metrics_x",
        f"{LEGACY_MULTIPROC_ENV}=/tmp/feast_metrics_x",
    ]
    assert env == {"PATH": "/bin"}


def test_the_servers_own_directory_is_kept() -> None:
    env = {MULTIPROC_ENV: "/run/m", SERVING_MULTIPROC_ENV: "/run/m"}
    assert drop_foreign_multiproc_dir(env) == []
    assert env == {MULTIPROC_ENV: "/run/m", SERVING_MULTIPROC_ENV: "/run/m"}


def test_after_feast_is_imported_a_server_started_from_that_process_has_no_foreign_dir(tmp_path: Path) -> None:
    # What `flightpath tour` does: read features through Feast (whose import sets both variables
    # to a temp dir it deletes at exit), then start `python -m serving` with a copy of os.environ.
    child = tmp_path / "child.py"
    child.write_text(
        "import os\n"
        "from serving.metrics_env import drop_foreign_multiproc_dir\n"
        "drop_foreign_multiproc_dir()\n"
        f"print(os.environ.get({MULTIPROC_ENV!r}), os.environ.get({LEGACY_MULTIPROC_ENV!r}))\n"
    )
    parent = tmp_path / "parent.py"
    parent.write_text(
        "import os, subprocess, sys\n"
        "import feast.metrics\n"
        f"assert os.environ.get({MULTIPROC_ENV!r}), 'feast did not set it: this test would prove nothing'\n"
        f"done = subprocess.run([sys.executable, {str(child)!r}], env=os.environ.copy(),\n"
        "                      capture_output=True, text=True)\n"
        "print(done.stdout, done.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in (MULTIPROC_ENV, LEGACY_MULTIPROC_ENV)}
    out = subprocess.run([sys.executable, str(parent)], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["None", "None"], out.stdout + out.stderr
