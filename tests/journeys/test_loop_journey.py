"""The loop closes through the real Airflow: a finished day is scored, judged, and a quality drop retrains.

As a user on the embedded default:

    make demo (Jan 1-21)                  -> v1 is champion
    (break it) v1's recorded test ROC-AUC is set to 0.99: whatever it scores now is a "drop"
    Airflow: run flightpath_daily for Jan 22   (REST API v2 of a real `airflow standalone`)
        ingest -> features -> batch_score -> materialize, whose asset event starts
    flightpath_monitor (asset-triggered)  -> monitor: quality drop -> retrain_needed -> trigger_retrain
    flightpath_retrain (conf: day, reason) -> training_frame -> train -> promote: the gate decides

The decision's reasons travel: the monitor task's XCom, the retrain run's conf, the MLflow
monitoring run; the batch answers are in the prediction log, the reports on disk.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from flightpath.processes import free_port
from flightpath.registry_access import registry_client
from flightpath.settings import Settings
from tests.journeys.test_champion_journey import _airflow_standalone, _environment, _run_make

DAY = "2013-01-22"


def _wait_for_run(api: httpx.Client, dag: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = api.get(f"/api/v2/dags/{dag}/dagRuns").json()["dag_runs"]
        done = [r for r in runs if r["state"] in ("success", "failed")]
        if done:
            return done[-1]
        time.sleep(3)
    raise TimeoutError(f"no finished run of {dag} after {timeout:.0f} s")


def _tasks(api: httpx.Client, dag: str, run_id: str) -> dict[str, str]:
    tis = api.get(f"/api/v2/dags/{dag}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    return {t["task_id"]: t["state"] for t in tis}


def _xcom(api: httpx.Client, dag: str, run_id: str, task: str) -> dict:
    url = f"/api/v2/dags/{dag}/dagRuns/{run_id}/taskInstances/{task}/xcomEntries/return_value"
    return api.get(url).json()["value"]


@pytest.mark.integration
def test_a_finished_day_is_judged_and_a_quality_drop_retrains_through_airflow(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, AIRFLOW_HOME=home / "airflow")  # type: ignore[call-arg]
    env = _environment(home)
    _run_make(
        {**env, "FLIGHTPATH_SERVE_PORT": str(free_port())}, "demo", "START=2013-01-01", "END=2013-01-21", timeout=1200
    )
    client = registry_client(settings.mlflow_tracking_uri)
    champion = client.get_model_version_by_alias(settings.model_name, "champion")
    client.set_model_version_tag(settings.model_name, champion.version, "test_auc", "0.99")

    with _airflow_standalone(env, settings, tmp_path / "airflow.log") as api:
        for dag in ("flightpath_daily", "flightpath_monitor", "flightpath_retrain"):
            deadline = time.monotonic() + 180
            while api.get(f"/api/v2/dags/{dag}").status_code != 200:
                assert time.monotonic() < deadline, f"{dag} not parsed"
                time.sleep(2)
        # The loop's own DAGs run unpaused from the start; the daily one is paused like any new DAG.
        assert not api.get("/api/v2/dags/flightpath_monitor").json()["is_paused"]
        assert not api.get("/api/v2/dags/flightpath_retrain").json()["is_paused"]
        api.patch("/api/v2/dags/flightpath_daily", json={"is_paused": False}).raise_for_status()
        api.post(
            "/api/v2/dags/flightpath_daily/dagRuns",
            json={
                "logical_date": f"{DAY}T05:00:00Z",  # local midnight starting Jan 22 (EST)
                "data_interval_start": f"{DAY}T05:00:00Z",
                "data_interval_end": "2013-01-23T05:00:00Z",
            },
        ).raise_for_status()

        daily = _wait_for_run(api, "flightpath_daily", 600)
        assert daily["state"] == "success", _tasks(api, "flightpath_daily", daily["dag_run_id"])
        assert _xcom(api, "flightpath_daily", daily["dag_run_id"], "batch_score")["flights"] > 500

        monitor = _wait_for_run(api, "flightpath_monitor", 300)
        assert monitor["run_type"] == "asset_triggered"
        assert _tasks(api, "flightpath_monitor", monitor["dag_run_id"]) == {
            "monitor": "success",
            "retrain_needed": "success",
            "trigger_retrain": "success",
        }
        verdict = _xcom(api, "flightpath_monitor", monitor["dag_run_id"], "monitor")
        (day,) = verdict["days"]
        assert day["day"] == DAY and day["retrain"] and "quality drop" in day["reasons"][0]
        assert day["mlflow_run_id"]

        retrain = _wait_for_run(api, "flightpath_retrain", 900)
        assert retrain["conf"]["day"] == DAY and "quality drop" in retrain["conf"]["reason"]
        assert retrain["state"] == "success", _tasks(api, "flightpath_retrain", retrain["dag_run_id"])
        promoted = _xcom(api, "flightpath_retrain", retrain["dag_run_id"], "promote")
        assert promoted["decision"] in ("promoted", "rejected") and promoted["reason"]

    assert (settings.reports_dir / "monitoring" / DAY / "input_drift.html").exists()
    run = client.get_run(day["mlflow_run_id"])
    assert run.data.tags["retrain"] == "true" and run.data.tags["model_version"] == str(champion.version)
