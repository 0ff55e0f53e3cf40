"""monitoring/daily.py end to end on real flights: a registered champion, its reference window, a
prediction log about real 2013 flights, their real outcomes from the lake; then the exporter and MLflow.

The champion is the tiny logistic-regression ONNX model of the serving tests; the logged answers are
made up so that their quality is known (they separate delayed from on-time flights, or they do not).
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from flightpath import lake
from flightpath.prediction_table import create_table, make_engine, predictions
from flightpath.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))  # the tiny model and registry
from serving_fakes import MODEL_NAME, Registry, build_model

TRAIN = (dt.date(2013, 1, 1), dt.date(2013, 1, 7))
DAYS = [dt.date(2013, 1, d) for d in range(8, 15)]
LAST = DAYS[-1]


def _answers(make_frame, flights: pd.DataFrame, seed: int, informative: bool) -> pd.DataFrame:
    """Model inputs like the reference's, and a probability that knows the outcome (or not)."""
    rng = np.random.default_rng(seed)
    inputs = make_frame(len(flights), seed)
    delayed = (flights["dep_delay"] >= 15).to_numpy(dtype=float)
    signal = 2.5 * (delayed - 0.2) if informative else 0.0
    logit = -1.4 + signal + rng.normal(0, 1, len(flights))
    inputs["probability"] = 1 / (1 + np.exp(-logit))
    return inputs


def _log(settings: Settings, days: list[dt.date], make_frame, *, informative: bool) -> int:
    """Replace the prediction log with one batch answer per curated flight of `days`; the inputs
    come from `make_frame`, the reference's own generator (tests/monitoring/conftest.py)."""
    engine = make_engine(settings.prediction_log_url)
    create_table(engine)
    rows = []
    for i, day in enumerate(days):
        flights = lake.read_partitions(settings.lake_dir, "curated", "flights", [day])
        answers = _answers(make_frame, flights, seed=100 + i, informative=informative)
        for f, a in zip(flights.itertuples(), answers.itertuples(), strict=True):
            local = pd.Timestamp(f.sched_dep_local).tz_localize("America/New_York").isoformat()
            features = {n: (None if pd.isna(getattr(a, n)) else float(getattr(a, n))) for n in NUMERIC_FEATURES}
            features.update({n: getattr(f, n) for n in CATEGORICAL_FEATURES})
            rows.append(
                {
                    "request_id": f"t-{f.carrier}{f.flight}-{day}",
                    "ts": dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
                    "model_version": "1",
                    "inputs": {
                        "carrier": f.carrier,
                        "flight": int(f.flight),
                        "tailnum": f.tailnum,
                        "origin": f.origin,
                        "dest": f.dest,
                        "sched_dep_local": local,
                    },
                    "features": features,
                    "flags": {"source": "batch", "degraded": False},
                    "probability": float(a.probability),
                    "latency_ms": 0.1,
                    "flight_day": day,
                }
            )
    with engine.begin() as conn:
        conn.execute(predictions.delete())
        conn.execute(predictions.insert(), rows)
    engine.dispose()
    return len(rows)


@pytest.fixture(scope="module")
def world(tiny_lake: Settings, tmp_path_factory: pytest.TempPathFactory, frame_factory) -> Settings:
    """A copy of the tiny lake (Jan 1-14), a registry whose champion was trained on Jan 1-7, and that
    window's training frame (synthetic inputs: the reference)."""
    root = tmp_path_factory.mktemp("monitoring-world")
    shutil.copytree(tiny_lake.lake_dir, root / "home" / "lake")
    (root / "home" / "lake" / "training_sets").mkdir()
    settings = tiny_lake.model_copy(
        update={
            "home": root / "home",
            "mlflow_tracking_uri_override": f"sqlite:///{root / 'mlflow.db'}",
            "quality_resamples": 50,
            "quality_window_days": 7,
        }
    )
    registry = Registry(settings.mlflow_tracking_uri)
    version = registry.register(build_model())
    registry.client().set_model_version_tag(MODEL_NAME, version, "train_window", f"{TRAIN[0]}..{TRAIN[1]}")
    registry.client().set_model_version_tag(MODEL_NAME, version, "test_auc", "0.70")
    reference = frame_factory(3000, 1, start=TRAIN[0], n_days=7)
    reference.to_parquet(lake.training_set_file(settings.lake_dir, TRAIN[0], DAYS[-1]))
    return settings


def test_a_good_day_is_judged_fine_with_every_report_written(world: Settings, frame_factory):
    from monitoring.daily import day_dir, monitor_day

    _log(world, DAYS, frame_factory, informative=True)
    summary = monitor_day(world, LAST)

    flights_today = len(lake.read_partitions(world.lake_dir, "curated", "flights", [LAST]))
    assert summary["predictions"] == {"flights": flights_today, "by_source": {"batch": flights_today}}
    assert summary["model"]["version"] == "1" and summary["model"]["test_auc"] == 0.70
    inputs = summary["drift"]["inputs"]
    assert inputs["status"] == "ok" and not inputs["drift_detected"]
    assert summary["drift"]["predictions"]["status"] == "ok"
    window = summary["quality"]["window"]
    assert window["status"] == "ok" and window["roc_auc"]["low"] > 0.75
    assert window["n"] > summary["quality"]["day"]["n"] > 0  # the week holds more than the day
    assert set(summary["quality"]["by_origin"]) == {"EWR", "JFK", "LGA"}
    assert not summary["decision"]["retrain"]
    out = day_dir(world, LAST)
    for name in ("input_drift.html", "input_drift.json", "prediction_drift.html", "summary.json"):
        assert (out / name).stat().st_size > 0, name


def test_answers_that_know_nothing_trigger_retraining_for_quality(world: Settings, frame_factory):
    from monitoring.daily import monitor_day

    _log(world, DAYS, frame_factory, informative=False)
    summary = monitor_day(world, LAST)
    window = summary["quality"]["window"]
    assert window["roc_auc"]["high"] < 0.65
    assert summary["decision"]["retrain"]
    assert "quality drop" in summary["decision"]["reasons"][0]


def test_a_day_without_answers_or_outcomes_is_not_enough_data_not_an_alarm(world: Settings, frame_factory):
    from monitoring.daily import monitor_day

    _log(world, DAYS, frame_factory, informative=True)
    summary = monitor_day(world, dt.date(2013, 1, 30))  # its week: nothing logged, nothing ingested
    assert summary["predictions"]["flights"] == 0
    assert summary["drift"]["inputs"]["status"] == "not_enough_data"
    assert summary["quality"]["window"]["status"] == "not_enough_data"
    assert not summary["decision"]["retrain"]


def test_the_exporter_publishes_the_newest_day(world: Settings, frame_factory):
    from prometheus_client import CollectorRegistry, generate_latest

    from monitoring.daily import monitor_day, monitoring_dir
    from monitoring.exporter import SummaryCollector

    _log(world, DAYS, frame_factory, informative=True)
    monitor_day(world, LAST)
    for later in monitoring_dir(world).glob("2013-01-[23]*"):  # other tests' later days: LAST is the newest
        shutil.rmtree(later)
    registry = CollectorRegistry()
    registry.register(SummaryCollector(monitoring_dir(world)))
    text = generate_latest(registry).decode()
    assert 'flightpath_monitoring_roc_auc{bound="value",model_version="1",scope="window"}' in text
    assert 'flightpath_monitoring_drift_detected{model_version="1"} 0.0' in text
    assert 'flightpath_monitoring_feature_drifted{feature="wx_temp",model_version="1"}' in text
    assert "flightpath_monitoring_last_day_timestamp_seconds" in text
    assert 'flightpath_monitoring_quality_floor{model_version="1"} 0.6' in text  # 0.70 - 0.05
    assert 'flightpath_monitoring_drift_alert{model_version="1"} 0.0' in text


def test_the_verdict_is_logged_to_mlflow_next_to_the_model_version(world: Settings, frame_factory):
    from mlflow import MlflowClient

    from monitoring.daily import day_dir, monitor_day
    from monitoring.publish import log_to_mlflow

    _log(world, DAYS, frame_factory, informative=True)
    summary = monitor_day(world, LAST)
    run_id = log_to_mlflow(world, summary, day_dir(world, LAST))
    client = MlflowClient(world.mlflow_tracking_uri, registry_uri=world.mlflow_tracking_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["model_version"] == "1" and run.data.tags["day"] == LAST.isoformat()
    assert run.data.metrics["window_roc_auc"] == pytest.approx(summary["quality"]["window"]["roc_auc"]["value"])
    artifacts = {a.path for a in client.list_artifacts(run_id, "monitoring")}
    assert "monitoring/input_drift.html" in artifacts
    tags = client.get_model_version(MODEL_NAME, "1").tags
    assert tags["monitoring.last_day"] == LAST.isoformat() and tags["monitoring.last_run"] == run_id


def test_every_report_is_in_the_evidently_workspace(world: Settings, frame_factory):
    from evidently.ui.workspace import Workspace

    from monitoring.daily import monitor_day
    from monitoring.workspace import PROJECT, workspace_dir

    _log(world, DAYS, frame_factory, informative=True)
    monitor_day(world, LAST)
    ws = Workspace(str(workspace_dir(world)))
    (project,) = ws.search_project(PROJECT)
    assert len(ws.list_runs(project.id)) >= 2  # input drift and prediction drift of the day
    # The dashboard draws those runs by the day judged, each series from the runs of its kind.
    panels = project.dashboard.model().panels
    assert {tuple(m.tags) for p in panels for m in p.values} == {("input_drift",), ("prediction_drift",)}
    stamps = {ws.get_run(project.id, run).timestamp.date() for run in ws.list_runs(project.id)}
    assert stamps == {LAST}
