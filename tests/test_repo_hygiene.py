"""Checks developers run as `make lint`, run in CI too: ruff, and no machine paths in tracked files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flightpath.settings import PROJECT_ROOT

RUFF = Path(sys.executable).parent / "ruff"


def test_ruff_check_passes() -> None:
    out = subprocess.run(
        [str(RUFF), "check", "--output-format", "concise", "."], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout[-3000:]


def test_import_layers_hold() -> None:
    """The import-linter contracts in pyproject.toml (layers, serving's forbidden imports)."""
    out = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-3000:]


def test_no_machine_paths_in_tracked_files() -> None:
    """The project speaks of itself only: no absolute paths of a developer's machine."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = []
    for name in files:
        path = PROJECT_ROOT / name
        if not path.is_file() or path.suffix in {".png", ".zip"} or path == Path(__file__):
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        for marker in ("/home/", "/Users/", "/root/", "/work/", "/tmp/pytest-of-"):
            if marker in text:
                offenders.append(f"{name}: {marker}")
    assert offenders == []


def test_nothing_refers_to_documents_outside_the_repository() -> None:
    """Anyone who clones the repo must find everything inside it: docs/design.md is the design."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    outside = ("../" + "shared", "STACK" + "_NOTES", "DESIGN" + ".md", "STYLE" + ".md")  # split: not a hit here
    offenders = [
        f"{name}: {marker}"
        for name in files
        if (PROJECT_ROOT / name).is_file()
        for marker in outside
        if marker in (PROJECT_ROOT / name).read_text(encoding="utf-8", errors="ignore")
    ]
    assert offenders == []
