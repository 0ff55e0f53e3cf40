"""`flightpath stack ...`: drive the compose stack the way a user does, over its published ports.

    flightpath stack status     # each service: state, health, URL (Docker SDK); exit 1 if not all healthy
    flightpath stack wait       # every container healthy (or a one-shot job done), else its last logs
    flightpath stack trigger    # the demo DAG through Airflow's REST API v2, until the run succeeds
    flightpath stack smoke      # /readyz, a prediction from the champion with Redis features, its row
                                # in PostgreSQL, the champion in MLflow, Prometheus scraping serving

`make up`, `make trigger`, `make smoke` and `make stack-test` call these. Ports and passwords are read
from the same variables compose reads (STACK_*_PORT, POSTGRES_FLIGHTPATH_PASSWORD; see .env.example).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import httpx
import typer

app = typer.Typer(help="Drive the compose stack (make up first).", no_args_is_help=True)

PROJECT = os.environ.get("COMPOSE_PROJECT_NAME", "flightpath")  # the name compose itself reads
SAMPLE_FLIGHT = {
    "carrier": "EV",
    "flight": 4370,
    "tailnum": "N17159",
    "origin": "EWR",
    "dest": "CHS",
    "sched_dep_local": "2013-01-28T13:57:00",
}


def port(name: str, default: int) -> int:
    return int(os.environ.get(f"STACK_{name}_PORT", default))


def url(name: str, default: int) -> str:
    return f"http://127.0.0.1:{port(name, default)}"


def fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code=1)


# --- status -------------------------------------------------------------------------------------------
# Where a user reaches each service (published ports; the rest are internal).
URLS = {
    "serving": ("SERVING", 8000, "/docs"),
    "airflow-api-server": ("AIRFLOW", 8080, "/"),
    "mlflow": ("MLFLOW", 5000, "/"),
    "prometheus": ("PROMETHEUS", 9090, "/"),
    "grafana": ("GRAFANA", 3000, "/"),
    "evidently-ui": ("EVIDENTLY", 8001, "/"),
    "monitoring-exporter": ("EXPORTER", 8002, "/metrics"),
    "postgres": ("PG", 5432, ""),
    "redis": ("REDIS", 6379, ""),
}


@app.command()
def status() -> None:
    """Each service of the stack: its state, health and URL. Exit 1 when no Docker engine answers, no
    container exists, or a service is not healthy."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        fail(f"no Docker engine answers ({exc}); start Docker, then `make up`")
    found = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={PROJECT}"})
    if not found:
        fail(f"no container of the compose project {PROJECT!r} exists (make up)")
    unhealthy = []
    for c in sorted(found, key=lambda c: c.labels.get("com.docker.compose.service", c.name)):
        service = c.labels.get("com.docker.compose.service", c.name)
        health = (c.attrs["State"].get("Health") or {}).get("Status", "-")
        where = URLS.get(service)
        address = ""
        if where:
            name, default, path = where
            address = f"{url(name, default)}{path}" if path else f"127.0.0.1:{port(name, default)}"
        typer.echo(f"{service:24} {c.status:10} {health:10} {address}")
        if state_of(c.attrs) != "ok":
            unhealthy.append(service)
    if unhealthy:
        fail(f"not healthy: {', '.join(unhealthy)}")


# --- wait ---------------------------------------------------------------------------------------------
def containers() -> list[dict[str, Any]]:
    """`docker inspect` of every container of the project (running or not)."""
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not ids:
        return []
    out = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True).stdout
    return list(json.loads(out))


def state_of(container: dict[str, Any]) -> str:
    """ "ok", "waiting" or "failed", from a `docker inspect` entry: healthy, or a one-shot job exited 0."""
    st = container["State"]
    health = (st.get("Health") or {}).get("Status")
    if st["Status"] == "exited":
        return (
            "ok"
            if st["ExitCode"] == 0
            and container["Config"]["Labels"].get("com.docker.compose.service", "").endswith("-init")
            else "failed"
        )
    if health is None:
        return "ok" if st["Status"] == "running" else "waiting"
    return {"healthy": "ok", "unhealthy": "failed"}.get(health, "waiting")


@app.command()
def wait(timeout: Annotated[float, typer.Option(help="seconds before giving up")] = 600) -> None:
    """Wait until every container is healthy; on failure or timeout print the culprits' last logs."""
    deadline = time.monotonic() + timeout
    while True:
        found = containers()
        if not found:
            fail("no container of the flightpath stack exists (make up)")
        states = {c["Name"].lstrip("/"): state_of(c) for c in found}
        bad = [n for n, s in states.items() if s == "failed"]
        pending = [n for n, s in states.items() if s == "waiting"]
        if not bad and not pending:
            typer.echo(f"all {len(states)} containers healthy")
            for warning in exposure_warnings(found, compose_variables()):
                typer.echo(f"WARNING: {warning}", err=True)
            return
        if bad or time.monotonic() > deadline:
            for name in bad or pending:
                logs = subprocess.run(["docker", "logs", "--tail", "30", name], capture_output=True, text=True)
                typer.echo(f"--- {name} ({states[name]}), last log lines:\n{logs.stdout}{logs.stderr}", err=True)
            fail(f"not healthy after {timeout:.0f} s: {bad or pending}" if not bad else f"failed: {bad}")
        time.sleep(3)


# --- defaults beyond loopback -------------------------------------------------------------------------
# What guards each service, by compose service name: the .env variables of its passwords, or None
# where the local stack has no login at all (docs/security.md, "Defaults").
GUARDS: dict[str, tuple[str, ...] | None] = {
    "postgres": (
        "POSTGRES_PASSWORD",
        "POSTGRES_AIRFLOW_PASSWORD",
        "POSTGRES_MLFLOW_PASSWORD",
        "POSTGRES_FLIGHTPATH_PASSWORD",
    ),
    "mlflow": ("MLFLOW_ADMIN_PASSWORD", "MLFLOW_PIPELINE_PASSWORD", "MLFLOW_SERVING_PASSWORD", "MLFLOW_SECRET_KEY"),
    "grafana": ("GRAFANA_ADMIN_PASSWORD",),
    "airflow-api-server": None,
    "redis": None,
    "prometheus": None,
    "evidently-ui": None,
    "monitoring-exporter": None,
}
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def _assignments(path: Path) -> dict[str, str]:
    """KEY=value lines of an env file (comments and blank lines skipped)."""
    lines = path.read_text().splitlines() if path.exists() else []
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def compose_variables(env_file: Path | None = None) -> dict[str, str]:
    """The variables compose reads: the project's .env, overridden by the environment."""
    values = _assignments(env_file or ENV_EXAMPLE.with_name(".env"))
    values.update({k: v for k, v in os.environ.items() if k in _assignments(ENV_EXAMPLE)})
    return values


def exposure_warnings(found: list[dict[str, Any]], variables: dict[str, str]) -> list[str]:
    """A service published beyond loopback while its login is a local default, or has none."""
    defaults = _assignments(ENV_EXAMPLE)
    warnings = []
    for container in found:
        service = container["Config"]["Labels"].get("com.docker.compose.service", "")
        bindings = [b for bs in (container["NetworkSettings"].get("Ports") or {}).values() for b in (bs or [])]
        exposed = sorted({b["HostIp"] or "0.0.0.0" for b in bindings} - LOOPBACK)
        if not exposed or service not in GUARDS:
            continue
        guard = GUARDS[service]
        if guard is None:
            warnings.append(f"{service} is published on {', '.join(exposed)} and has no login on the local stack")
            continue
        weak = [v for v in guard if variables.get(v, defaults.get(v)) == defaults.get(v)]
        if weak:
            warnings.append(
                f"{service} is published on {', '.join(exposed)} with default {', '.join(weak)}: set them in .env"
            )
    return warnings


# --- trigger ------------------------------------------------------------------------------------------
def airflow_client() -> httpx.Client:
    base = url("AIRFLOW", 8080)
    token = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": "admin"}, timeout=30)
    token.raise_for_status()
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token.json()['access_token']}"}, timeout=30)


class DemoRun(NamedTuple):
    run_id: str
    state: str  # "success" or "failed"
    tasks: dict[str, str]  # task id -> state


def run_demo_dag(api: httpx.Client, start: str, end: str, timeout: float, parse_timeout: float = 120) -> DemoRun:
    """Trigger flightpath_demo over START..END as the UI's button does (REST API v2: unpause, POST a
    run with `logical_date: null` and the window as conf) and wait until the run ends.

    `api` is an authenticated client of the Airflow API server (the stack's, or a standalone's).
    Raises TimeoutError when the DAG is not parsed in `parse_timeout` or the run not done in `timeout`.
    """
    dag = "/api/v2/dags/flightpath_demo"
    deadline = time.monotonic() + parse_timeout
    while api.get(dag).status_code != 200:  # the dag-processor may not have parsed it yet
        if time.monotonic() > deadline:
            raise TimeoutError(f"flightpath_demo is not known to Airflow after {parse_timeout:.0f} s")
        time.sleep(2)
    api.patch(dag, json={"is_paused": False}).raise_for_status()
    run = api.post(f"{dag}/dagRuns", json={"logical_date": None, "conf": {"start": start, "end": end}})
    run.raise_for_status()
    run_id = run.json()["dag_run_id"]
    deadline = time.monotonic() + timeout
    while (state := api.get(f"{dag}/dagRuns/{run_id}").json()["state"]) not in ("success", "failed"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {state} after {timeout:.0f} s")
        time.sleep(3)
    tasks = api.get(f"{dag}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    return DemoRun(run_id, state, {t["task_id"]: t["state"] for t in tasks})


@app.command()
def trigger(
    start: Annotated[str, typer.Option(help="first day")] = "2013-01-01",
    end: Annotated[str, typer.Option(help="last day")] = "2013-01-28",
    timeout: Annotated[float, typer.Option(help="seconds to wait for the run")] = 900,
) -> None:
    """Trigger flightpath_demo over START..END through the REST API v2 and wait until it succeeds."""
    dt.date.fromisoformat(start), dt.date.fromisoformat(end)  # a clear error before anything starts
    typer.echo(f"triggering flightpath_demo ({start}..{end}); waiting")
    with airflow_client() as api:
        try:
            run = run_demo_dag(api, start, end, timeout)
        except TimeoutError as exc:
            fail(f"{exc} (make logs)")
    summary = ", ".join(f"{task}={state}" for task, state in run.tasks.items())
    if run.state != "success":
        fail(f"run {run.run_id} failed: {summary}")
    typer.echo(f"run {run.run_id} succeeded: {summary}")


# --- smoke --------------------------------------------------------------------------------------------
ALIAS_API = "/api/2.0/mlflow/registered-models/alias"


def serving_login() -> tuple[str, str]:
    """MLflow's read-only login (k8s/base/mlflow-auth/basic_auth.ini), as compose gives it to serving."""
    return "serving", os.environ.get("MLFLOW_SERVING_PASSWORD", "flightpath-serving-local")


def champion_version() -> str:
    resp = httpx.get(
        f"{url('MLFLOW', 5000)}{ALIAS_API}",
        params={"name": "flight-delay", "alias": "champion"},
        auth=serving_login(),
        timeout=10,
    )
    resp.raise_for_status()
    return str(resp.json()["model_version"]["version"])


def champion_move_refused(version: str) -> dict[str, int]:
    """Try to move `champion` as nobody and as serving: both must be refused (401, 403)."""
    move = {"name": "flight-delay", "alias": "champion", "version": version}
    target = f"{url('MLFLOW', 5000)}{ALIAS_API}"
    return {
        "anonymous": httpx.post(target, json=move, timeout=10).status_code,
        "serving": httpx.post(target, json=move, auth=serving_login(), timeout=10).status_code,
    }


def logged_rows(request_id: str, dsn: str | None = None) -> int:
    """How many rows of the prediction log carry `request_id` (0 while the table does not exist).
    `dsn`: a libpq connection string; default the stack's published PostgreSQL."""
    import psycopg

    if dsn is None:
        password = os.environ.get("POSTGRES_FLIGHTPATH_PASSWORD", "flightpath")
        dsn = f"host=127.0.0.1 port={port('PG', 5432)} dbname=flightpath user=flightpath password={password}"
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        try:
            row = conn.execute("SELECT count(*) FROM predictions WHERE request_id = %s", (request_id,)).fetchone()
        except psycopg.errors.UndefinedTable:  # the log shipper has not created it yet
            return 0
    return int(row[0]) if row else 0


@app.command()
def smoke(timeout: Annotated[float, typer.Option(help="seconds to wait for each check")] = 60) -> None:
    """The stack answers as a user expects, from the champion, with online features, and logs it."""
    serving = url("SERVING", 8000)
    champion = champion_version()
    typer.echo(f"MLflow: flight-delay@champion is v{champion}")
    refused = champion_move_refused(champion)
    if refused != {"anonymous": 401, "serving": 403}:
        fail(f"MLflow let a client move champion that must not: HTTP statuses {refused} (want 401, 403)")
    typer.echo("MLflow: moving champion needs the pipeline's login (anonymous 401, serving 403)")
    deadline = time.monotonic() + timeout
    while (ready := httpx.get(f"{serving}/readyz", timeout=5)).json().get("model_version") != champion:
        if time.monotonic() > deadline:  # the service polls the registry every reload interval
            fail(f"/readyz after {timeout:.0f} s: {ready.status_code} {ready.text}")
        time.sleep(2)
    typer.echo(f"serving: /readyz {ready.status_code}, v{champion}")
    answer = httpx.post(f"{serving}/v1/predict", json=SAMPLE_FLIGHT, timeout=10)
    body = answer.json()
    if answer.status_code != 200 or body["model"]["version"] != champion or body["degraded"]:
        fail(f"/v1/predict: {answer.status_code} {answer.text}")
    typer.echo(f"serving: /v1/predict p={body['probability']:.4f} from v{champion}, online features (not degraded)")
    deadline = time.monotonic() + timeout
    while logged_rows(body["request_id"]) != 1:  # the shipper writes in batches, off the request path
        if time.monotonic() > deadline:
            fail(f"prediction {body['request_id']} is not in PostgreSQL after {timeout:.0f} s")
        time.sleep(1)
    typer.echo("PostgreSQL: the prediction's row is in the log")
    deadline = time.monotonic() + timeout
    while True:
        targets = httpx.get(f"{url('PROMETHEUS', 9090)}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        health = {t["labels"].get("job"): t["health"] for t in targets}
        if health.get("serving") == "up":
            break
        if time.monotonic() > deadline:
            fail(f"Prometheus targets after {timeout:.0f} s: {health}")
        time.sleep(3)
    typer.echo("Prometheus: the serving target is up")
