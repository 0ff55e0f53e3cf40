"""docker-compose.yml, checked offline: schema, ports, env names, commands, wiring between services."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

SCHEMA = Path(__file__).resolve().parents[2] / "infra" / "schemas" / "compose-spec.json"

# Services that run once and exit (the others wait for `service_completed_successfully`): no healthcheck.
ONE_SHOT = {"airflow-init", "mlflow-init"}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "0.0.0.0"}
# Top-level keys the compose spec added after the vendored schema revision (infra/schemas/README.md).
NEWER_THAN_SCHEMA = ("name",)


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def strings(node: Any) -> list[str]:
    """Every string value in a YAML tree."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return []


def interpolated(value: str) -> str:
    """Apply compose's ${VAR:-default} interpolation with the defaults (what a fresh clone runs)."""
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", value)


def test_compose_validates_against_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    # Top-level `name` (the project name) postdates the vendored schema revision: check it by hand.
    newer = {k: compose[k] for k in NEWER_THAN_SCHEMA if k in compose}
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9_-]*", str(v)) for v in newer.values()), newer
    document = {k: v for k, v in compose.items() if k not in NEWER_THAN_SCHEMA}
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:20])


def test_schema_check_is_not_vacuous() -> None:
    """A misspelt service key must fail the same validator (guards against a schema that accepts all)."""
    import jsonschema

    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    bad = {"services": {"x": {"image": "busybox", "helthcheck": {"test": ["CMD", "true"]}}}}
    assert list(validator.iter_errors(bad)), "the vendored compose schema accepted an unknown key"


def test_expected_services_exist(compose: dict[str, Any]) -> None:
    expected = {
        "postgres",
        "redis",
        "mlflow",
        "airflow-init",
        "mlflow-init",
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "serving",
        "prometheus",
        "grafana",
    }
    assert expected <= set(services(compose)), f"missing: {sorted(expected - set(services(compose)))}"


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    missing = [
        name
        for name, svc in services(compose).items()
        if name not in ONE_SHOT and (not svc.get("healthcheck") or svc["healthcheck"].get("disable"))
    ]
    assert not missing, f"services without a healthcheck: {missing}"
    for name in ONE_SHOT:
        assert services(compose)[name].get("restart") == "no", f"{name} is one-shot: restart must be 'no'"


def test_depends_on_names_real_services_and_waits_for_health(compose: dict[str, Any]) -> None:
    svcs = services(compose)
    for name, svc in svcs.items():
        deps = svc.get("depends_on") or {}
        for dep, spec in deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps):
            assert dep in svcs, f"{name} depends on unknown service {dep}"
            cond = (spec or {}).get("condition", "service_started")
            if dep in ONE_SHOT:
                assert cond == "service_completed_successfully", f"{name} must wait for {dep} to finish"
            elif svcs[dep].get("healthcheck"):
                assert cond == "service_healthy", f"{name} should wait for {dep} to be healthy, not {cond}"


def _ports_in(compose: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(service, port, where) for every port the compose file names."""
    svcs = services(compose)
    names = set(svcs)
    found: list[tuple[str, int, str]] = []
    for name, svc in svcs.items():
        for entry in svc.get("ports", []):
            if isinstance(entry, dict):
                found += [(name, int(entry[k]), f"ports.{k}") for k in ("target", "published") if k in entry]
                continue
            parts = interpolated(str(entry)).split("/")[0].split(":")
            found += [(name, int(p), "ports") for p in parts[-2:] if p.isdigit()]
        for entry in svc.get("expose", []):
            found.append((name, int(str(entry).split("/")[0]), "expose"))
        for value in strings(svc):
            value = interpolated(value)
            for host, port in re.findall(r"(?:^|//|@|,|\s)([A-Za-z0-9_.-]+):(\d{2,5})(?=[/\s,']|$)", value):
                if host in names or host in LOCAL_HOSTS:
                    found.append((name, int(port), f"address {host}:{port}"))
        for key, value in env_of(svc).items():
            if key.endswith("_PORT"):
                found.append((name, int(value), f"env {key}"))
        for key in ("command", "entrypoint"):
            argv = svc.get(key) or []
            argv = argv.split() if isinstance(argv, str) else [str(a) for a in argv]
            for flag, value in zip(argv, argv[1:], strict=False):
                if flag == "--port":
                    found.append((name, int(value), f"{key} --port"))
    return found


def test_every_port_is_a_design_port(compose: dict[str, Any], allowed_ports: set[int]) -> None:
    found = _ports_in(compose)
    assert len(found) > 10, "port extraction found suspiciously few ports"
    bad = [f for f in found if f[1] not in allowed_ports]
    assert not bad, f"ports outside the design's list {sorted(allowed_ports)}: {bad}"


def test_published_ports_bind_loopback_and_keep_their_number(compose: dict[str, Any]) -> None:
    for name, svc in services(compose).items():
        for entry in svc.get("ports", []):
            parts = interpolated(str(entry)).split("/")[0].split(":")
            assert len(parts) == 3 and parts[0] == "127.0.0.1", f"{name}: publish on 127.0.0.1 only ({entry})"
            assert parts[1] == parts[2], f"{name}: by default host and container port match ({entry})"
            # The host side is a variable: another PostgreSQL or Redis may already hold the port.
            assert re.fullmatch(r"127\.0\.0\.1:\$\{STACK_[A-Z]+_PORT:-\d+\}:\d+", str(entry)), entry


def test_design_ports_are_published_where_the_stack_runs_them(
    compose: dict[str, Any], design_ports: dict[str, int]
) -> None:
    published = {
        int(interpolated(str(p)).split(":")[-2]): name
        for name, svc in services(compose).items()
        for p in svc.get("ports", [])
    }
    expected = {
        "serving": "serving",
        "MLflow": "mlflow",
        "Airflow": "airflow-api-server",
        "Prometheus": "prometheus",
        "Grafana": "grafana",
        "PostgreSQL": "postgres",
        "Redis": "redis",
    }
    for label, service in expected.items():
        port = design_ports[label]
        assert published.get(port) == service, f"{label} ({port}) should be published by {service}"


def test_env_names_are_settings_fields_or_third_party(compose: dict[str, Any], check_env_name) -> None:
    problems = []
    blocks = {k: v for k, v in compose.items() if k.startswith("x-") and k.endswith("-env")}
    blocks |= {name: env_of(svc) for name, svc in services(compose).items()}
    for where, env in blocks.items():
        problems += [f"{where}: {reason}" for key in env if (reason := check_env_name(key))]
    text = (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text()
    for var in set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text)):
        if var.startswith("FLIGHTPATH_") and (reason := check_env_name(var)):
            problems.append(f"interpolation ${{{var}}}: {reason}")
    assert not problems, "\n".join(problems)


def test_flightpath_services_share_the_stack_settings(compose: dict[str, Any]) -> None:
    shared = compose["x-flightpath-env"]
    assert shared["FLIGHTPATH_PROFILE"] == "stack"
    assert shared["FLIGHTPATH_ONLINE_STORE"] == "redis"
    assert shared["FLIGHTPATH_REDIS_URL"] == "redis:6379"
    assert shared["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert shared["FLIGHTPATH_PREDICTION_LOG_URL"].startswith("postgresql+psycopg://")
    runs_flightpath = [
        n
        for n, s in services(compose).items()
        if str(s.get("image", "")).startswith("flightpath-") and n not in ("mlflow", "mlflow-init")
    ]
    assert {"serving", "airflow-scheduler"} <= set(runs_flightpath)
    for name in runs_flightpath:
        env = env_of(services(compose)[name])
        for key, value in shared.items():
            assert env.get(key) == str(value), f"{name} does not carry {key} from x-flightpath-env"


def test_stack_settings_are_valid_settings(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The env the stack passes must build a Settings object (types, Literals, validators)."""
    from flightpath.settings import Settings

    for key, value in env_of(services(compose)["serving"]).items():
        monkeypatch.setenv(key, interpolated(value))
    s = Settings(_env_file=None)
    assert s.profile == "stack" and s.online_store == "redis"
    assert s.serve_host == "0.0.0.0" and s.serve_port == 8000
    assert s.mlflow_tracking_uri == "http://mlflow:5000"
    assert s.prediction_log_url.startswith("postgresql+psycopg://flightpath:")


def _without_build(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_build(v) for k, v in node.items() if k != "build"}
    if isinstance(node, list):
        return [_without_build(v) for v in node]
    return node


def test_urls_point_at_services_and_databases_exist(compose: dict[str, Any], repo_root: Path) -> None:
    svcs = services(compose)
    init = (repo_root / "k8s" / "base" / "postgres-init" / "01-databases.sh").read_text()
    created = set(re.findall(r"create_db (\w+) ", init))
    assert created == {"airflow", "mlflow", "flightpath"}, created
    # Build arguments (an index URL for pip) are build-time, outside the stack's network.
    urls = [interpolated(s) for s in strings(_without_build(compose)) if "://" in s]
    pg_urls = [u for u in urls if u.startswith("postgresql")]
    assert len(pg_urls) >= 3
    for url in pg_urls:
        parsed = urlparse(url)
        assert parsed.hostname == "postgres" and parsed.port == 5432, url
        database = parsed.path.lstrip("/")
        assert database in created and parsed.username == database, f"{url}: role/database not created by init"
    pg_env = env_of(svcs["postgres"])
    for name in created:
        assert f"POSTGRES_{name.upper()}_PASSWORD" in pg_env, f"postgres service lacks the {name} password"
    for url in urls:
        host = urlparse(url).hostname
        if host and host not in LOCAL_HOSTS:
            assert host in svcs, f"{url} points at {host}, which is not a compose service"


def test_airflow_components_share_secret_executor_and_api_url(compose: dict[str, Any], repo_root: Path) -> None:
    from flightpath.settings import PROJECT_ROOT, Settings

    airflow = {n: env_of(s) for n, s in services(compose).items() if n.startswith("airflow-")}
    assert len(airflow) == 5
    for key in (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CORE__DAGS_FOLDER",
    ):
        values = {name: env.get(key) for name, env in airflow.items()}
        assert len(set(values.values())) == 1 and None not in values.values(), f"{key} differs: {values}"
    env = next(iter(airflow.values()))
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    api = urlparse(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert api.hostname == "airflow-api-server" and api.port == 8080 and api.path.rstrip("/") == "/execution"
    # The DAGs folder is where pipelines.Dockerfile puts the repo's pipelines/dags.
    dags_rel = Settings(_env_file=None).dags_dir.relative_to(PROJECT_ROOT)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == f"/opt/flightpath/{dags_rel.as_posix()}"
    assert (repo_root / dags_rel).is_dir()
    dockerfile = (repo_root / "infra" / "docker" / "pipelines.Dockerfile").read_text()
    assert f"AIRFLOW__CORE__DAGS_FOLDER=/opt/flightpath/{dags_rel.as_posix()}" in dockerfile


def test_bind_mounts_and_build_files_exist(compose: dict[str, Any], repo_root: Path) -> None:
    for name, svc in services(compose).items():
        for volume in svc.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith((".", "/")):
                assert (repo_root / source).exists(), f"{name}: bind mount source {source} does not exist"
        build = svc.get("build")
        if build:
            assert (repo_root / build.get("context", ".") / build["dockerfile"]).exists(), f"{name}: {build}"


def test_prometheus_scrapes_serving_metrics(repo_root: Path, compose: dict[str, Any], h) -> None:
    config = h.load_yaml(repo_root / "infra" / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    serving = jobs["serving"]
    assert serving.get("metrics_path", "/metrics") == "/metrics"
    targets = [t for sc in serving["static_configs"] for t in sc["targets"]]
    assert targets == ["serving:8000"]
    datasource = h.load_yaml(repo_root / "infra" / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    urls = [d["url"] for d in datasource["datasources"] if d["type"] == "prometheus"]
    assert urls == ["http://prometheus:9090"]
    mounted = [v for v in services(compose)["prometheus"]["volumes"] if "prometheus.yml" in v]
    assert mounted, "prometheus.yml is not mounted into the prometheus service"
    dash_dir = repo_root / "infra" / "grafana" / "dashboards"
    for dash in dash_dir.glob("*.json"):
        assert json.loads(dash.read_text())["uid"], dash


def test_commands_name_real_cli_subcommands(compose: dict[str, Any], cli_command_names: set[str], h) -> None:
    used = []
    for name, svc in services(compose).items():
        for key in ("command", "entrypoint"):
            used += [(name, sub) for sub in h.flightpath_subcommands(svc.get(key))]
        test = (svc.get("healthcheck") or {}).get("test")
        if isinstance(test, list) and test and test[0] in {"CMD", "CMD-SHELL"}:
            used += [(name, sub) for sub in h.flightpath_subcommands(test[1:] if test[0] == "CMD" else test[1])]
    assert services(compose)["serving"]["command"] == ["python", "-m", "serving"], "serving runs `python -m serving`"
    unknown = [(n, sub) for n, sub in used if sub not in cli_command_names]
    assert not unknown, f"subcommands not registered on cli.main:app {sorted(cli_command_names)}: {unknown}"


def test_yaml_lint(tool, h) -> None:
    yamllint = tool("yamllint")
    targets = ["docker-compose.yml", "infra", "k8s"]
    proc = h.run([yamllint, "--strict", "-c", "infra/yamllint.yaml", *targets])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_env_example_lists_every_variable_compose_reads_with_its_default(repo_root: Path) -> None:
    """.env.example is the documentation of compose's knobs: the same names, the same defaults."""
    text = (repo_root / "docker-compose.yml").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    read = dict(re.findall(r"\$\{([A-Z][A-Z0-9_]*):-([^}]*)\}", body))
    example = dict(
        line.split("=", 1)
        for line in (repo_root / ".env.example").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert example == read
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=repo_root).returncode == 0
    assert ignored, ".env must be ignored by git: it holds the real passwords"


def test_mlflow_asks_for_a_login_and_only_the_pipeline_may_write(compose: dict[str, Any]) -> None:
    """The registry decides what serving loads: anonymous access would let anyone move `champion`."""
    mlflow = services(compose)["mlflow"]
    command = mlflow["command"]
    assert command[command.index("--app-name") + 1] == "basic-auth"
    assert env_of(mlflow)["MLFLOW_AUTH_CONFIG_PATH"] == "/etc/mlflow/basic_auth.ini"
    mounted = {v.split(":")[0]: v.split(":")[1] for v in mlflow["volumes"] if v.startswith("./")}
    assert mounted["./k8s/base/mlflow-auth/basic_auth.ini"] == "/etc/mlflow/basic_auth.ini"
    ini = (SCHEMA.parents[2] / "k8s" / "base" / "mlflow-auth" / "basic_auth.ini").read_text()
    assert "sqlite:////mlflow/auth/" in ini  # its own volume, not the artifact store the server hands out
    logins = {
        name: env_of(svc).get("MLFLOW_TRACKING_USERNAME")
        for name, svc in services(compose).items()
        if name.startswith("airflow-") or name == "serving"
    }
    assert set(logins.values()) == {"pipeline", "serving"} and logins["serving"] == "serving", logins


def test_the_dev_override_mounts_the_code_the_image_installs_and_nothing_else(compose: dict[str, Any]) -> None:
    """`make up DEV=1`: the stage folders on disk replace the image's editable copies, read-only."""
    repo = SCHEMA.parents[2]
    override = yaml.safe_load((repo / "docker-compose.dev.yml").read_text())
    dockerfile = (repo / "infra" / "docker" / "pipelines.Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+)/ \1/$", dockerfile, flags=re.M))
    assert copied >= {"pipelines", "features", "training", "monitoring", "flightpath", "cli"}, copied
    base = services(compose)
    for name, service in override["services"].items():
        assert name in base and name.startswith("airflow-"), name
        kept = set(base[name]["volumes"])
        mounts = [v for v in service["volumes"] if v not in kept]
        assert kept <= set(service["volumes"]), f"{name}: the override drops a volume of the base"
        for mount in mounts:
            source, target, mode = mount.split(":")
            folder = source.removeprefix("./")
            assert (repo / folder).is_dir() and folder in copied, mount
            assert target == f"/opt/flightpath/{folder}" and mode == "ro", mount
    assert set(override["services"]) == {n for n in base if n.startswith("airflow-") and n != "airflow-init"}
