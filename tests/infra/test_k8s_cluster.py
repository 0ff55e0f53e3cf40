"""infra/k8s-cluster.sh (make kind-up / minikube-up): what can be checked without a cluster.
There is no kind or minikube where this project is built; the pods themselves run as twins
(tests/cli/test_k8s_twin.py, `make k8s-twin`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cli.k8s_twin import images, render
from tests.conftest import unavailable

SCRIPT = Path(__file__).resolve().parents[2] / "infra" / "k8s-cluster.sh"


def run(args: list[str], path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(SCRIPT), *args], capture_output=True, text=True, env={"PATH": str(path)}, timeout=60
    )


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A PATH with the shell's basics and recording fakes of docker and kubectl (no kind, no minikube)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("dirname", "cat", "date", "grep", "seq", "sleep", "rm", "mkdir", "head", "cut", "base64"):
        if found := shutil.which(tool):
            (folder / tool).symlink_to(found)
    for fake in ("docker", "kubectl"):
        (folder / fake).write_text(f'#!/bin/sh\necho "{fake} $*" >> "{tmp_path}/calls"\nexit 0\n')
        (folder / fake).chmod(0o755)
    return folder


def test_usage_errors_exit_2(bin_dir: Path) -> None:
    for args in ([], ["up"], ["sideways", "kind"], ["up", "k3s"]):
        proc = run(args, bin_dir)
        assert proc.returncode == 2 and "usage:" in proc.stderr, args


@pytest.mark.parametrize(("flavour", "hint"), [("kind", "kind.sigs.k8s.io"), ("minikube", "minikube.sigs.k8s.io")])
def test_a_missing_tool_fails_fast_with_where_to_get_it(bin_dir: Path, flavour: str, hint: str) -> None:
    proc = run(["up", flavour], bin_dir)
    assert proc.returncode == 1
    assert f"{flavour} is not installed (needed by make {flavour}-up): https://{hint}" in proc.stderr
    assert not (bin_dir.parent / "calls").exists()  # nothing was started or asked before the check


def test_kubectl_is_checked_too(bin_dir: Path) -> None:
    (bin_dir / "kubectl").unlink()
    (bin_dir / "kind").symlink_to(bin_dir / "docker")
    proc = run(["up", "kind"], bin_dir)
    assert proc.returncode == 1 and "kubectl is not installed" in proc.stderr


def test_every_image_the_overlays_run_is_built_and_loaded() -> None:
    if shutil.which("kubectl") is None:
        unavailable("kubectl is not on PATH (it renders the overlay with its built-in kustomize)")
    text = SCRIPT.read_text()
    loaded = set(re.search(r"^IMAGES=\(([^)]*)\)", text, re.M).group(1).split())  # type: ignore[union-attr]
    built_services = re.search(r'COMPOSE\[@\]\}" build ([\w -]+)', text).group(1).split()  # type: ignore[union-attr]
    compose = yaml.safe_load((SCRIPT.parents[1] / "docker-compose.yml").read_text())["services"]
    built = {compose[s]["image"] for s in built_services}
    for overlay in ("kind", "minikube"):
        ours = {i for i in images(render(overlay)) if i.startswith("flightpath-")}
        assert ours and ours <= loaded == built, (overlay, ours, loaded, built)


def test_the_script_is_executable() -> None:
    assert os.access(SCRIPT, os.X_OK)
