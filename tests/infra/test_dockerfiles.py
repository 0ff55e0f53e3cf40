"""infra/docker/*.Dockerfile checked offline (no Docker engine): base, user, installs, COPY sources,
the code each image needs (import closure), commands, and hadolint."""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("cli", "flightpath", "pipelines", "features", "training", "serving", "monitoring")

# image -> (extras installed, import roots whose closure must be inside the image)
IMAGES = {
    "serving": ({"serving"}, ["serving"]),
    "pipelines": ({"ingest", "features", "training", "monitoring", "pipelines"}, ["pipelines/dags"]),
    "mlflow": (set(), []),
}
# What the serving image must never carry: training and orchestration, and the offline/feature-store
# stack (Feast with pandas, pyarrow, duckdb) that the worker's memory would pay for (issue: lean worker).
NEVER_IN_SERVING = {"torch", "airflow", "feast", "pandas", "pyarrow", "duckdb"}


def instructions(name: str, h) -> list[tuple[str, str]]:
    return h.parse_dockerfile(REPO / "infra" / "docker" / f"{name}.Dockerfile")


def argv_of(rest: str) -> list[str]:
    rest = rest.strip()
    return json.loads(rest) if rest.startswith("[") else shlex.split(rest)


def copy_sources(name: str, h) -> list[str]:
    sources = []
    for word, rest in instructions(name, h):
        if word not in {"COPY", "ADD"}:
            continue
        args = argv_of(rest)
        flags = [a for a in args if a.startswith("--")]
        if any(f.startswith("--from") for f in flags):
            continue
        sources += [a for a in args if not a.startswith("--")][:-1]
    return sources


def copied_packages(name: str, h) -> set[str]:
    return {s.strip("/").split("/")[0] for s in copy_sources(name, h)} & set(FIRST_PARTY)


def test_every_image_has_a_dockerfile(h) -> None:
    assert {p.name.removesuffix(".Dockerfile") for p in h.dockerfiles()} == set(IMAGES)


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_base_image_and_non_root_user(name: str, h) -> None:
    ins = instructions(name, h)
    froms = [rest for word, rest in ins if word == "FROM"]
    assert froms == ["${PYTHON_IMAGE}"], froms
    default = [rest for word, rest in ins if word == "ARG" and rest.startswith("PYTHON_IMAGE=")]
    assert default == ["PYTHON_IMAGE=python:3.11-slim"], "the base defaults to the official image"
    users = [rest for word, rest in ins if word == "USER"]
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, users
    last_user = max(i for i, (w, _) in enumerate(ins) if w == "USER")
    last_cmd = max(i for i, (w, _) in enumerate(ins) if w in {"CMD", "ENTRYPOINT"})
    assert last_user < last_cmd


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_installs_are_pinned_by_constraints(name: str, h) -> None:
    runs = [rest for word, rest in instructions(name, h) if word == "RUN" and "pip install" in rest]
    assert runs, "no pip install"
    for rest in runs:
        assert "-c constraints.txt" in rest, f"unconstrained install: {rest}"
        assert "--no-cache-dir" in rest
    extras_wanted, _ = IMAGES[name]
    installed = set()
    for rest in runs:
        for m in re.finditer(r'"?\.\[([a-z,]+)\]"?', rest):
            installed |= set(m.group(1).split(","))
    assert installed == extras_wanted, f"{name} installs extras {installed}, expected {extras_wanted}"


def test_serving_image_has_no_torch_or_airflow_group(h) -> None:
    import tomllib

    groups = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    serving = " ".join(groups["serving"])
    for heavy in NEVER_IN_SERVING:
        assert heavy not in serving, f"the serving group pulls {heavy}"


def test_mlflow_server_version_matches_constraints(h) -> None:
    pins = dict(line.split("==", 1) for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line)
    text = " ".join(rest for word, rest in instructions("mlflow", h) if word == "RUN")
    assert f"mlflow[auth]=={pins['mlflow']}" in text, f"mlflow pin differs from constraints.txt ({pins['mlflow']})"
    # The compose stack starts it with --app-name basic-auth, which needs the [auth] extra's Flask-WTF.
    assert "flask-wtf" in pins, "Flask-WTF (mlflow[auth]) must be pinned"
    assert "psycopg" in text and "psycopg" in pins, "psycopg must be installed (and pinned) for PostgreSQL"


def _dockerignore_patterns() -> list[tuple[bool, str]]:
    rules = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negate = line.startswith("!")
            rules.append((negate, line.lstrip("!").strip("/")))
    return rules


def _ignored(path: str, rules: list[tuple[bool, str]]) -> bool:
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negate, pattern in rules:
        pattern = pattern.replace("**/", "*")  # fnmatch's * crosses "/", close enough for these rules
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_state_and_secrets_out() -> None:
    rules = _dockerignore_patterns()
    for path in (".venv", ".flightpath", ".git", ".env", "serving/__pycache__/x.pyc", ".pytest_cache"):
        assert _ignored(path, rules), f"{path} would be sent to the Docker build context"


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_copied_paths_exist_and_are_in_the_build_context(name: str, h) -> None:
    rules = _dockerignore_patterns()
    sources = copy_sources(name, h)
    assert sources
    for src in sources:
        if "*" in src:  # an optional source (e.g. .wheelhouse*): may match nothing, and is never required
            continue
        assert (REPO / src).exists(), f"{name}.Dockerfile copies {src}, which does not exist in the repo"
        assert not _ignored(src, rules), f"{name}.Dockerfile copies {src}, which .dockerignore excludes"


@pytest.mark.parametrize("name", ["serving", "pipelines"])
def test_stub_packages_match_copied_packages(name: str, h) -> None:
    """The editable install is resolved against stub packages; they must be the packages copied later."""
    run = next(rest for word, rest in instructions(name, h) if word == "RUN" and "pip install" in rest)
    stubs = set(re.search(r"mkdir -p ([\w ]+?) &&", run).group(1).split())
    assert stubs == copied_packages(name, h)


def _module_file(module: str) -> Path | None:
    base = REPO.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


class _Imports(ast.NodeVisitor):
    """Absolute module names imported by a file (TYPE_CHECKING blocks excluded)."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.modules: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.modules |= {a.name for a in node.names}

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        self.modules.add(module)
        self.modules |= {f"{module}.{a.name}" for a in node.names}


def import_closure(roots: list[str]) -> tuple[set[Path], set[str]]:
    """(first-party files reached, third-party top-level modules imported) from every .py under roots."""
    todo = [p for root in roots for p in sorted((REPO / root).rglob("*.py"))]
    seen: set[Path] = set()
    third_party: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        rel = path.relative_to(REPO).with_suffix("")
        visitor = _Imports(".".join(rel.parts[:-1]))  # the package a relative import starts from
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        for module in visitor.modules:
            top = module.split(".")[0]
            if top not in FIRST_PARTY:
                if top:
                    third_party.add(top)
                continue
            parts = module.split(".")
            for i in range(1, len(parts) + 1):  # the module and every package on its way
                if (f := _module_file(".".join(parts[:i]))) is not None:
                    todo.append(f)
    return seen, third_party


@pytest.mark.parametrize("name", ["serving", "pipelines"])
def test_image_contains_the_code_its_entrypoints_import(name: str, h) -> None:
    _, roots = IMAGES[name]
    if not any((REPO / r).exists() and any((REPO / r).rglob("*.py")) for r in roots):
        pytest.fail(f"{roots} has no Python files yet: nothing to check the {name} image against")
    files, third_party = import_closure(roots)
    needed = {f.relative_to(REPO).parts[0] for f in files}
    copied = copied_packages(name, h)
    assert needed <= copied, f"{name} code imports {sorted(needed - copied)}, which the image does not copy"
    if name == "serving":
        assert not third_party & NEVER_IN_SERVING, f"serving's import closure reaches {third_party & NEVER_IN_SERVING}"


def pip_requirements(run: str) -> list[str]:
    """Requirement strings named on a `pip install` line, other than the project itself (".[...]")."""
    tokens = shlex.split(run.split("pip install", 1)[1].split("&&")[0])
    reqs, skip_next = [], False
    for token in tokens:
        if skip_next:
            skip_next = False
        elif token in {
            "-c",
            "-r",
            "--constraint",
            "--requirement",
            "-e",
            "--extra-index-url",
            "-i",
            "--find-links",
            "-f",
        }:
            skip_next = token not in {"-e"}
        elif not token.startswith(("-", ".")):
            reqs.append(token)
    return reqs


def _installed_distributions(requirements: list[str]) -> set[str]:
    """Normalized names of every distribution `pip install <requirements>` brings in, read from the
    metadata of this (complete) environment: the same resolution the image build does."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        extras = set(req.extras)
        if name in seen and extras <= seen[name]:
            continue
        seen[name] = seen.get(name, set()) | extras
        try:
            deps = requires(name) or []
        except PackageNotFoundError:
            pytest.fail(f"{name} is required by the image but not installed here; cannot resolve its closure")
        for dep in map(Requirement, deps):
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in seen[name] | {""}):
                todo.append(dep)
    return set(seen)


@pytest.mark.parametrize("name", ["serving", "pipelines"])
def test_image_dependencies_cover_third_party_imports(name: str, h) -> None:
    """Every third-party module the image's code imports is installed by the image's pip line."""
    import sys
    import tomllib
    from importlib.metadata import packages_distributions

    from packaging.utils import canonicalize_name

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras, roots = IMAGES[name]
    run = next(rest for word, rest in instructions(name, h) if word == "RUN" and "pip install" in rest)
    explicit = pip_requirements(run)
    wanted = project["dependencies"] + [r for e in extras for r in project["optional-dependencies"][e]] + explicit
    installed = _installed_distributions(wanted)
    providers = packages_distributions()
    _, third_party = import_closure(roots)
    missing = {}
    for module in sorted(third_party - set(sys.stdlib_module_names)):
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if not dists & installed:
            missing[module] = sorted(dists) or "not installed anywhere"
    assert not missing, f"{name} image code imports modules its pip install does not bring: {missing}"
    if name == "serving":  # and what it installs, not only what it imports
        carried = installed & {canonicalize_name(n) for n in NEVER_IN_SERVING}
        assert not carried, f"the serving image installs {sorted(carried)}"


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_env_and_command(name: str, h, check_env_name, cli_command_names) -> None:
    ins = instructions(name, h)
    for word, rest in ins:
        if word == "ENV":
            for key in re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", rest):
                if key.startswith("FLIGHTPATH_"):
                    assert check_env_name(key) is None, check_env_name(key)
    cmd = [argv_of(rest) for word, rest in ins if word in {"CMD", "ENTRYPOINT"}]
    for argv in cmd:
        for sub in h.flightpath_subcommands(argv):
            assert sub in cli_command_names, f"{name}.Dockerfile runs `flightpath {sub}`: not a CLI subcommand"
    if name == "serving":
        assert cmd[-1] == ["python", "-m", "serving"]  # the image holds no CLI: only what serving imports
        healthcheck = " ".join(rest for word, rest in ins if word == "HEALTHCHECK")
        assert "/healthz" in healthcheck and ":8000" in healthcheck
    if name == "mlflow":
        assert "/health" in " ".join(rest for word, rest in ins if word == "HEALTHCHECK")


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_hadolint(name: str, tool, h) -> None:
    hadolint = tool("hadolint")
    path = f"infra/docker/{name}.Dockerfile"
    proc = h.run([hadolint, "--no-color", "--config", "infra/hadolint.yaml", path])
    assert proc.returncode == 0, f"hadolint {path}:\n{proc.stdout}{proc.stderr}"
