"""infra/stack-test.sh, with fake docker and flightpath commands: which compose project it touches."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "infra" / "stack-test.sh"


def test_it_never_uses_the_users_compose_project(tmp_path: Path) -> None:
    """The Makefile exports COMPOSE_PROJECT_NAME=flightpath (the `make up` stack) to every target;
    the stack test's `down -v` must still only reach its own project."""
    calls = tmp_path / "calls"
    fakes = tmp_path / "bin"
    fakes.mkdir()
    for name in ("docker", "flightpath"):
        (fakes / name).write_text(f'#!/bin/sh\necho "$COMPOSE_PROJECT_NAME {name} $*" >> "{calls}"\nexit 0\n')
        (fakes / name).chmod(0o755)
    proc = subprocess.run(
        ["/bin/bash", str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": f"{fakes}:/usr/bin:/bin",
            "COMPOSE_PROJECT_NAME": "flightpath",
            "FLIGHTPATH": str(fakes / "flightpath"),
            "PY": str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python"),
            "LOCAL_IMAGES": "0",
        },
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = calls.read_text().splitlines()
    assert any("compose" in line and " down -v" in line for line in lines), lines
    assert all(line.startswith("flightpath-stacktest ") for line in lines), lines
