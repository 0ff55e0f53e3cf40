"""pipelines/batch_score.py: a finished day's flights, answered as the service would have at their
prediction time, into the prediction log; reruns replace, never duplicate; no champion, no rows."""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract import MODEL_INPUTS, NUMERIC_FEATURES
from flightpath import lake
from flightpath.prediction_table import create_table, make_engine, predictions
from flightpath.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))  # the tiny model and registry
from serving_fakes import Registry, build_model

DAY = dt.date(2013, 1, 10)


@pytest.fixture(scope="module")
def home(tiny_lake: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the tiny lake with its feature tables built and the Feast repo applied."""
    from features.store import apply_repo
    from features.tables import build_feature_tables

    root = tmp_path_factory.mktemp("batch-score")
    shutil.copytree(tiny_lake.lake_dir, root / "home" / "lake")
    settings = tiny_lake.model_copy(
        update={"home": root / "home", "mlflow_tracking_uri_override": f"sqlite:///{root / 'mlflow.db'}"}
    )
    build_feature_tables(settings, settings.demo_days())
    apply_repo(settings)
    return settings


def _rows(settings: Settings) -> pd.DataFrame:
    engine = make_engine(settings.prediction_log_url)
    try:
        with engine.connect() as conn:
            return pd.DataFrame([dict(r._mapping) for r in conn.execute(predictions.select())])
    finally:
        engine.dispose()


def test_without_a_champion_nothing_is_scored_and_the_task_stays_green(home: Settings):
    from pipelines.batch_score import batch_score_day

    got = batch_score_day(home, DAY)
    assert got["flights"] == 0 and "no champion" in got["skipped"]


def test_a_day_is_answered_with_the_features_of_each_flights_prediction_time(home: Settings):
    from features.training_set import training_set
    from monitoring.reference import score
    from pipelines.batch_score import batch_score_day, schedule_of

    Registry(home.mlflow_tracking_uri).register(build_model())
    assert "dep_delay" not in schedule_of(home, DAY).columns  # outcomes are not read

    # A live answer about the same day: a batch rerun must leave it alone.
    engine = make_engine(home.prediction_log_url)
    create_table(engine)
    with engine.begin() as conn:
        conn.execute(
            predictions.insert(),
            [
                {
                    "request_id": "live-1",
                    "ts": dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
                    "model_version": "1",
                    "inputs": {"carrier": "UA", "flight": 1, "sched_dep_local": "2013-01-10T08:00:00-05:00"},
                    "features": {},
                    "flags": {"source": "predict"},
                    "probability": 0.5,
                    "latency_ms": 1.0,
                    "flight_day": DAY,
                }
            ],
        )
    engine.dispose()

    first = batch_score_day(home, DAY)
    flights = lake.read_partitions(home.lake_dir, "curated", "flights", [DAY])
    assert first["flights"] == len(flights) > 500 and first["model_version"] == "1"
    again = batch_score_day(home, DAY)
    rows = _rows(home)
    batch = rows[rows["flags"].map(lambda f: f["source"]) == "batch"]
    assert len(batch) == again["flights"] == len(flights)  # replaced, not added
    assert (rows["request_id"] == "live-1").sum() == 1
    assert set(batch["flight_day"].astype(str)) == {DAY.isoformat()}

    # The features are the training set's for the same flights: what the model was trained on.
    expected = training_set(home, [DAY])
    expected["key"] = expected["carrier"] + expected["flight"].astype(str) + expected["sched_dep_utc"].astype(str)
    got = pd.DataFrame(list(batch["features"]))
    got["key"] = [
        i["carrier"] + str(i["flight"]) + str(pd.Timestamp(i["sched_dep_local"]).tz_convert("UTC"))
        for i in batch["inputs"]
    ]
    merged = expected.merge(got, on="key", suffixes=("", "_batch"))
    assert len(merged) == len(flights)
    for name in NUMERIC_FEATURES:
        a, b = merged[name].to_numpy(float), pd.to_numeric(merged[f"{name}_batch"]).to_numpy(float)
        assert np.allclose(a, b, equal_nan=True), name
    probabilities = batch["probability"].to_numpy()
    rescored = score(
        build_model().SerializeToString(), got[list(MODEL_INPUTS)].astype({n: float for n in NUMERIC_FEATURES})
    )
    assert np.allclose(probabilities, rescored, atol=1e-6)
