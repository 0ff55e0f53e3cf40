"""The whole loop as one DAG run over a window of days (the `make demo` DAG).

    flightpath demo                      # runs this DAG in-process with dag.test()
    airflow dags trigger flightpath_demo --conf '{"start": "2013-01-01", "end": "2013-01-21"}'

This file only orchestrates: every task calls one step of `pipelines.steps`, which calls the
stage packages. Nothing heavy (torch, feast) is imported at module level, so the DAG processor
parses this file in well under a second.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from flightpath.settings import get_settings
from pipelines import progress, steps

NOTES = Path(__file__).resolve().parent.parent / "NOTES.md"
_defaults = get_settings()


def _window() -> tuple[dt.date, dt.date]:
    params = get_current_context()["params"]
    return dt.date.fromisoformat(params["start"]), dt.date.fromisoformat(params["end"])


@dag(
    dag_id="flightpath_demo",
    schedule=None,  # run on demand: `flightpath demo` or the UI's trigger button
    start_date=pendulum.datetime(2013, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["flightpath", "demo"],
    doc_md=NOTES.read_text(encoding="utf-8") if NOTES.exists() else __doc__,
    params={
        "start": Param(
            _defaults.demo_start.isoformat(),
            type="string",
            format="date",
            description="first local day of the window (2013-01-01..2013-12-31)",
        ),
        "end": Param(
            _defaults.demo_end.isoformat(),
            type="string",
            format="date",
            description="last local day; its final monitor_days days are the 'later' window",
        ),
    },
    default_args={"retries": 1, "retry_delay": dt.timedelta(seconds=10), "execution_timeout": dt.timedelta(minutes=30)},
)
def flightpath_demo() -> None:
    @task(doc_md="Ingest each day: source drop -> immutable raw -> validated curated + quarantine (per rule).")
    def ingest() -> dict[str, Any]:
        with progress.stage("ingest"):
            return steps.ingest_window(get_settings(), *_window())

    @task(doc_md="Offline feature tables from the curated lake, `feast apply`, materialize to the online store.")
    def features(_: dict[str, Any]) -> dict[str, Any]:
        with progress.stage("features"):
            return steps.features_window(get_settings(), *_window())

    @task(doc_md="Point-in-time training set (Feast get_historical_features on duckdb) saved in the lake.")
    def training_frame(_: dict[str, Any]) -> dict[str, Any]:
        with progress.stage("training_frame"):
            return steps.build_training_frame(get_settings(), *_window())

    @task(doc_md="Train the PyTorch model and the logistic-regression baseline; export ONNX behind the parity gate.")
    def train(_: dict[str, Any]) -> dict[str, Any]:
        with progress.stage("train"):
            return steps.train_window(get_settings(), *_window())

    @task(doc_md="Register the ONNX model, alias it `challenger`, and move `champion` only if the gate passes.")
    def promote(trained: dict[str, Any]) -> dict[str, Any]:
        with progress.stage("promote"):
            return steps.register_and_promote(get_settings(), trained["run_id"])

    @task(doc_md="Evidently data-drift report: the training window vs the later window (HTML + JSON).")
    def monitor(_: dict[str, Any]) -> dict[str, Any]:
        with progress.stage("monitor"):
            return steps.monitor_window(get_settings(), *_window())

    @task(doc_md="Write every step's summary to reports/demo_summary.json (what `flightpath demo` prints).")
    def summary(
        ingest: dict, features: dict, training_frame: dict, train: dict, promote: dict, monitor: dict
    ) -> dict[str, Any]:
        results = {
            "ingest": ingest,
            "features": features,
            "training_frame": training_frame,
            "train": train,
            "promote": promote,
            "monitor": monitor,
        }
        return steps.write_summary(get_settings(), *_window(), results)

    ingested = ingest()
    feats = features(ingested)
    frame = training_frame(feats)
    trained = train(frame)
    promoted = promote(trained)
    monitored = monitor(frame)
    summary(ingest=ingested, features=feats, training_frame=frame, train=trained, promote=promoted, monitor=monitored)


flightpath_demo()
