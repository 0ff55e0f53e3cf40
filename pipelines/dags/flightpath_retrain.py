"""Retraining, as the monitoring DAG asks for it (or by hand): train on the recent window, let the gate decide.

    airflow dags trigger flightpath_retrain --conf '{"day": "2013-06-30", "reason": "by hand"}'

The window is the `retrain_window_days` days up to `day`. The new version is registered as
`challenger`; the promotion gate (training/gate.py) compares it with the champion on the same test
window and moves `champion` only if it passes. A running service hot-reloads the new champion
within `reload_interval_s`; a rejected challenger changes nothing (its reason is on the version).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from flightpath.settings import get_settings
from pipelines import steps


def _window() -> tuple[dt.date, dt.date]:
    day = dt.date.fromisoformat(get_current_context()["params"]["day"])
    return steps.retrain_window_for(get_settings(), day)


@dag(
    dag_id="flightpath_retrain",
    schedule=None,  # started by flightpath_monitor's trigger_retrain, or by hand
    start_date=pendulum.datetime(2013, 1, 1, tz="UTC"),
    catchup=False,
    # Safe to run from the start: it acts only on asset events / triggers, and a paused DAG would
    # silently drop the loop (Airflow pauses new DAGs by default).
    is_paused_upon_creation=False,
    max_active_runs=1,
    tags=["flightpath", "training"],
    doc_md=__doc__,
    params={
        "day": Param("2013-06-30", type="string", format="date", description="last day of the training window"),
        "reason": Param("by hand", type="string", description="why (the monitoring decision's reasons)"),
    },
    default_args={"retries": 1, "retry_delay": dt.timedelta(seconds=30), "execution_timeout": dt.timedelta(minutes=30)},
)
def flightpath_retrain() -> None:
    @task(doc_md="Point-in-time training set of the window (Feast, duckdb), saved in the lake.")
    def training_frame() -> dict[str, Any]:
        print("retraining because:", get_current_context()["params"]["reason"])
        return steps.build_training_frame(get_settings(), *_window())

    @task(doc_md="Train the ensemble and the baselines on the window; export ONNX behind the parity gate.")
    def train(_: dict[str, Any]) -> dict[str, Any]:
        return steps.train_window(get_settings(), *_window())

    @task(doc_md="Register as challenger; the promotion gate moves `champion` only if it passes.")
    def promote(trained: dict[str, Any]) -> dict[str, Any]:
        return steps.register_and_promote(get_settings(), trained["run_id"])

    promote(train(training_frame()))


flightpath_retrain()
