"""The model-sync process and the workers that follow its folder (serving/model_sync.py,
serving/model_follower.py): the worker serves what sync published, from a verified local copy,
and never talks to MLflow."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from live_service import serve
from serving_fakes import BIAS, FLIGHT, FakeReader, build_model

from serving.app import create_app
from serving.model_follower import DECISION_FILE
from serving.model_sync import ModelSync

ROOT = Path(__file__).resolve().parents[2]


def _worker_settings(serving_settings):
    return serving_settings.model_copy(update={"model_source": "folder"})


def test_a_worker_serves_what_sync_published_and_follows_it(serving_settings, registry):
    registry.register(build_model())
    sync = ModelSync(serving_settings)
    worker_settings = _worker_settings(serving_settings)
    with TestClient(create_app(worker_settings, reader=FakeReader(), poll=False)) as c:
        runtime = c.app.state.runtime
        assert c.get("/readyz").status_code == 503  # nothing published yet: unready, says why
        assert "no model published by model-sync yet" in c.get("/readyz").json()["last_reload_error"]
        sync.load_initial()
        decision = json.loads((serving_settings.models_dir / "flight-delay" / DECISION_FILE).read_text())
        assert decision["version"] == "1" and decision["error"] is None
        assert runtime.check_for_update() == "swapped"
        assert c.post("/v1/predict", json=FLIGHT).json()["model"]["version"] == "1"
        assert runtime.check_for_update() == "unchanged"
        assert c.get("/v1/model").json()["source"] == "registry"  # where sync fetched it

        registry.register(build_model(bias=BIAS + 1))  # v2 becomes champion
        assert runtime.check_for_update() == "unchanged"  # the worker never asks the registry
        assert sync.sync_once() == "swapped"
        assert runtime.check_for_update() == "swapped"
        assert c.post("/v1/predict", json=FLIGHT).json()["model"]["version"] == "2"

        registry.register(build_model(bias=BIAS + 5), signature="forged")  # v3: refused by sync
        assert sync.sync_once() == "refused"
        assert runtime.check_for_update() == "unchanged"
        model = c.get("/v1/model").json()
        assert (model["version"], model["stand_in_for"]) == ("2", "3")  # flagged, as sync decided
        assert "signature does not verify" in c.get("/readyz").json()["last_reload_error"]
    assert not (serving_settings.models_dir / "flight-delay" / "3").exists()


def test_a_worker_refuses_a_published_copy_that_was_tampered_with(serving_settings, registry):
    registry.register(build_model())
    ModelSync(serving_settings).load_initial()
    copy = serving_settings.models_dir / "flight-delay" / "1" / "model.onnx"
    copy.write_bytes(build_model(bias=BIAS + 5).SerializeToString())
    with TestClient(create_app(_worker_settings(serving_settings), reader=FakeReader(), poll=False)) as c:
        assert c.get("/readyz").status_code == 503
        assert "unusable here" in c.get("/readyz").json()["last_reload_error"]
        runtime = c.app.state.runtime
        assert runtime.check_for_update() == "known-bad"  # not verified again every second
        assert "unusable here" in c.get("/readyz").json()["last_reload_error"]


def test_a_worker_imports_no_mlflow(serving_settings, registry):
    """The point of the split: the worker process holds no MLflow client (and its memory), and no
    database driver either (the log shipper writes the prediction log)."""
    registry.register(build_model())
    ModelSync(serving_settings).load_initial()
    settings_json = _worker_settings(serving_settings).model_dump_json(by_alias=True, exclude_none=True)
    code = f"""
import json, sys
from fastapi.testclient import TestClient
sys.path.insert(0, "tests/serving")
from serving_fakes import FLIGHT, FakeReader
from flightpath.settings import Settings
from serving.app import create_app
settings = Settings(**json.loads({settings_json!r}))
with TestClient(create_app(settings, reader=FakeReader(), poll=False)) as c:
    assert c.post("/v1/predict", json=FLIGHT).json()["model"]["version"] == "1"
heavy = {{"mlflow", "feast", "pandas", "pyarrow", "duckdb", "torch", "sqlalchemy", "psycopg"}}
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & heavy)
assert not heavy, heavy
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLIGHTPATH_", "MLFLOW_"))}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.integration
def test_the_server_runs_its_model_sync_restarts_it_and_stops_it(champion_registry_live, tmp_path):
    with serve(tmp_path / "home", champion_registry_live, FLIGHTPATH_RELOAD_INTERVAL_S="0.5") as svc:
        children = _sync_pids(svc.proc.pid)
        assert len(children) == 1, children
        os.kill(children[0], signal.SIGKILL)  # a crash of the sync process
        deadline = time.monotonic() + 15
        while not (restarted := _sync_pids(svc.proc.pid)) or restarted == children:
            assert time.monotonic() < deadline, "model sync was not restarted"
            time.sleep(0.2)
        champion_registry_live.register(build_model(bias=BIAS + 1))  # followed through the new one
        deadline = time.monotonic() + 20
        while httpx.get(f"{svc.base}/v1/model", timeout=5).json()["version"] != "2":
            assert time.monotonic() < deadline, "the worker never followed v2"
            time.sleep(0.2)
        os.kill(svc.proc.pid, signal.SIGTERM)
        assert svc.proc.wait(timeout=30) in (0, -signal.SIGTERM)
        deadline = time.monotonic() + 5  # it gets SIGTERM as the server exits, and stops at once
        while [pid for pid in restarted if _alive(pid)]:
            assert time.monotonic() < deadline, "model sync outlived the server"
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def _sync_pids(parent: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(parent), "-f", "serving.model_sync"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


@pytest.fixture
def champion_registry_live(_registry_template, tmp_path):
    from serving_fakes import copy_registry

    registry = copy_registry(_registry_template, tmp_path / "mlflow")
    registry.register(build_model())
    return registry
