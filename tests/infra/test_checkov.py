"""checkov over the rendered overlays, the Dockerfiles and (for secrets) compose/infra/k8s.

The skip list is infra/checkov.yaml (one reason per skip, checked here); a file-specific skip lives
inline as `# checkov:skip=ID: reason`. checkov runs from its own environment (see conftest)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = "infra/checkov.yaml"


def test_every_checkov_skip_has_a_reason() -> None:
    lines = (REPO / CONFIG).read_text().splitlines()
    skips = [line for line in lines if re.match(r"\s*-\s*CKV", line)]
    assert skips, "no skip list found"
    for line in skips:
        assert re.match(r"\s*-\s*CKV2?_[A-Z0-9]+_\d+\s+#\s*\S.{10,}", line), f"skip without a reason: {line!r}"
    inline = [
        (path, line)
        for path in [*REPO.glob("infra/**/*"), *REPO.glob("k8s/**/*"), REPO / "docker-compose.yml"]
        if path.is_file()
        for line in path.read_text(errors="ignore").splitlines()
        if "checkov:skip=CKV" in line
    ]
    for path, line in inline:
        assert re.search(r"checkov:skip=CKV2?_[A-Z0-9]+_\d+:\s*\S.{10,}", line), f"{path}: inline skip without a reason"


def _checkov(tool, h, *args: str) -> None:
    checkov = tool("checkov")
    proc = h.run([checkov, "--config-file", CONFIG, *args], timeout=300)
    assert proc.returncode == 0, f"checkov {' '.join(args)} failed:\n{proc.stdout[-6000:]}{proc.stderr[-2000:]}"


@pytest.mark.integration
def test_checkov_kubernetes(rendered_overlays, tool, h, tmp_path: Path) -> None:
    files = []
    for name, (text, _) in rendered_overlays.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        files += ["-f", str(path)]
    _checkov(tool, h, "--framework", "kubernetes", *files)


@pytest.mark.integration
def test_checkov_dockerfiles(tool, h) -> None:
    _checkov(tool, h, "--framework", "dockerfile", "-d", "infra/docker")


@pytest.mark.integration
def test_checkov_no_hardcoded_secrets(tool, h) -> None:
    # checkov has no compose framework; its secrets scan is what applies to docker-compose.yml.
    _checkov(tool, h, "--framework", "secrets", "-f", "docker-compose.yml", "-d", "infra", "-d", "k8s")
