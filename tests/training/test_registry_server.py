"""register_and_promote + rollback against a real `mlflow server` process backed by PostgreSQL.

The embedded default (SQLite, in-process) and the stack (HTTP to a server, PostgreSQL behind it)
go through different MLflow stores; this test runs the registry flow through the second one:
a fresh database per run, a server subprocess in its own process group on a free port, two
identical small models (the second is promoted: same AUC, same slices, same speed), the test
rows logged into the run (so the gate gets them over HTTP, not from a frame), then a rollback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from training_frames import training_settings

from flightpath.artifact import CHAMPION
from flightpath.processes import free_port
from tests.conftest import require_service
from training.evidence import log_test_rows
from training.registry import register_and_promote, rollback
from training.split import time_split
from training.tracking import client
from training.train import train_and_export

pytestmark = pytest.mark.integration  # a real MLflow server on PostgreSQL

PG = "postgresql://postgres@127.0.0.1:5432"
# The first request in a fresh server process imports plugins (feast registers one: 8-14 s here)
# and the first start migrates an empty database: allow for both.
STARTUP_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    db = f"flightpath_mlflow_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    tmp = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}",
            "--artifacts-destination",
            str(tmp / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            # One worker: each one imports mlflow and its plugins (~12 s apiece on 2 vCPUs).
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited {proc.returncode}: {(tmp / 'server.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"mlflow server not healthy after {STARTUP_TIMEOUT_S}s: {(tmp / 'server.log').read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield uri
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        finally:
            log.close()
            with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def test_register_promote_and_rollback_through_a_postgres_backed_server(
    mlflow_server: str, training_frame: pd.DataFrame, tmp_path: Path
) -> None:
    import psycopg

    frame = training_frame  # the story's frame: the first model beats the baseline on it
    settings = training_settings(tmp_path / "home", MLFLOW_TRACKING_URI=mlflow_server)
    assert settings.mlflow_tracking_uri == mlflow_server

    first = train_and_export(settings, frame)
    reg1 = register_and_promote(settings, first["run_id"])
    assert reg1["version"] == "1" and reg1["decision"] == "promoted" and reg1["champion"] == "1"

    second = train_and_export(settings, frame)  # same data + settings: the same model again
    with mlflow.start_run(run_id=second["run_id"]):
        log_test_rows(time_split(frame, settings).test)
    reg2 = register_and_promote(settings, second["run_id"])
    assert reg2["version"] == "2" and reg2["decision"] == "promoted", reg2["reason"]
    assert reg2["previous_champion"] == "1" and reg2["champion"] == "2"
    checks = reg2["checks"]
    assert checks["evidence"].endswith("(run artifact)")  # the rows came back over HTTP
    assert checks["auc"]["challenger"] == pytest.approx(checks["auc"]["champion"])
    assert checks["slices"]["passed"] and checks["latency"]["passed"] is not None

    rolled = rollback(settings)
    assert (rolled["from_version"], rolled["to_version"]) == ("2", "1")
    c = client(settings)
    assert str(c.get_model_version_by_alias(settings.model_name, CHAMPION).version) == "1"
    assert "rolled_back" in c.get_model_version(settings.model_name, "2").tags
    assert "restored_by_rollback" in c.get_model_version(settings.model_name, "1").tags

    # The registry really lives in PostgreSQL, behind the server.
    db = None
    with psycopg.connect(f"{PG}/postgres") as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'flightpath_mlflow_%'")]
    for name in names:
        with psycopg.connect(f"{PG}/{name}") as conn:
            rows = conn.execute(
                "SELECT key, value FROM model_version_tags WHERE name = %s AND version = 2", (settings.model_name,)
            ).fetchall()
            if rows:
                db = name
                tags = dict(rows)
    assert db is not None, "no flightpath_mlflow_* database holds version 2"
    assert tags["gate.decision"] == "promoted" and json.loads(tags["gate.checks"])["auc"]["passed"]
