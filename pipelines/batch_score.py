"""Batch scoring: every flight of a finished day, answered as the live service would have answered it.

    batch_score_day(settings, dt.date(2013, 4, 2))   # the daily DAG's batch_score task, `make replay`

Monitoring then works with or without live traffic: these rows stand in for the /v1/predict calls
the day would have had, each made at the flight's prediction time (scheduled departure minus
`horizon_hours`, the moment the model is trained for). They land in the prediction log marked "batch".

What is shared with /v1/predict: the champion's ONNX file (checksum verified against its registry
tag), the flight fields a request carries and how they are logged, the calendar features
(features.request_time) and the model inputs by name (features.contract). What differs, and why: the store
features come from Feast's point-in-time join over the offline store (features.training_set's
entity_frame + join_features), not from the online store. A day is scored after it ended, and
the online store only knows "now"; the point-in-time join gives the value it held at each flight's
prediction time (tests/features/test_online.py: online equals offline at the materialized instant).
Scoring each flight from a store that knows the whole day would leak the future into the answers;
scoring all of them from the store as of midnight would answer a different question (a day-ahead
forecast) than the model was trained and is monitored for.

Only schedule columns are read (carrier, number, tail, airports, scheduled departure): the outcome
columns of the curated partition are not.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
import uuid
from typing import Any

import numpy as np
import pandas as pd

from flightpath import lake
from flightpath.prediction_table import SOURCE_BATCH, create_table, make_engine, predictions
from flightpath.settings import LOCAL_TZ, Settings

log = logging.getLogger(__name__)

SCHEDULE_COLUMNS = ("carrier", "flight", "tailnum", "origin", "dest", "sched_dep_local", "sched_dep_utc")


def schedule_of(settings: Settings, day: dt.date) -> pd.DataFrame:
    """The day's scheduled flights (schedule columns only) from its curated partition."""
    flights = lake.read_partitions(settings.lake_dir, "curated", "flights", [day])
    return flights[list(SCHEDULE_COLUMNS)].reset_index(drop=True)


def _logged_inputs(schedule: pd.DataFrame) -> list[dict[str, Any]]:
    """The flight as /v1/predict logs a request: its fields, departure in local time with offset."""
    local = pd.to_datetime(schedule["sched_dep_utc"], utc=True).dt.tz_convert(LOCAL_TZ)
    return [
        {
            "carrier": str(f.carrier),
            "flight": int(f.flight),
            "tailnum": f.tailnum if isinstance(f.tailnum, str) and f.tailnum else None,
            "origin": str(f.origin),
            "dest": str(f.dest),
            "sched_dep_local": t.isoformat(),
        }
        for f, t in zip(schedule.itertuples(index=False), local, strict=True)
    ]


def model_inputs(settings: Settings, schedule: pd.DataFrame) -> pd.DataFrame:
    """Every model input of each scheduled flight at its prediction time (NaN = missing)."""
    from features import contract
    from features.request_time import calendar_columns
    from features.training_set import entity_frame, join_features

    joined = join_features(settings, entity_frame(schedule, settings.horizon))
    frame = pd.DataFrame({name: joined[name].to_numpy() for name in contract.STORE_FEATURES})
    calendar = calendar_columns(pd.Timestamp(t).to_pydatetime() for t in schedule["sched_dep_local"])
    for name in contract.CALENDAR_FEATURES:
        frame[name] = np.asarray(calendar[name], dtype=np.float64)
    for name in contract.CATEGORICAL_FEATURES:
        frame[name] = schedule[name].astype(str).to_numpy(dtype=object)
    return frame


def score_flights(settings: Settings, schedule: pd.DataFrame, champ: Any, batch_id: str) -> list[dict[str, Any]]:
    """Prediction-log rows for the scheduled flights: features at prediction time, one model run."""
    from features import contract
    from monitoring.reference import score

    t0 = time.perf_counter()
    inputs = model_inputs(settings, schedule)
    probabilities = score(champ.model, inputs)
    per_row_ms = (time.perf_counter() - t0) * 1e3 / max(1, len(inputs))
    now = dt.datetime.now(dt.UTC)
    as_of = pd.to_datetime(schedule["sched_dep_utc"], utc=True) - settings.horizon
    rows: list[dict[str, Any]] = []
    records = inputs.to_dict(orient="records")
    flights = _logged_inputs(schedule)
    for i, (flight, row, p, t) in enumerate(zip(flights, records, probabilities, as_of, strict=True)):
        features = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        rows.append(
            {
                "request_id": f"{batch_id}-{i}",
                "ts": now,
                "model_version": champ.version,
                "inputs": flight,
                "features": features,
                "flags": {
                    "source": SOURCE_BATCH,
                    "degraded": False,
                    "missing": [n for n in contract.STORE_FEATURES if features[n] is None],
                    "as_of": t.isoformat(),
                },
                "probability": float(p),
                "latency_ms": per_row_ms,
                "flight_day": dt.date.fromisoformat(flight["sched_dep_local"][:10]),
            }
        )
    return rows


def replace_batch_rows(url: str, day: dt.date, rows: list[dict[str, Any]]) -> int:
    """Write a day's batch rows in one transaction, replacing an earlier batch run of that day
    (a rerun must not count the day twice; live rows are never touched)."""
    engine = make_engine(url)
    try:
        create_table(engine)
        with engine.begin() as conn:
            conn.execute(
                predictions.delete().where(
                    predictions.c.flight_day == day,
                    predictions.c.flags["source"].as_string() == SOURCE_BATCH,
                )
            )
            if rows:
                conn.execute(predictions.insert(), rows)
    finally:
        engine.dispose()
    return len(rows)


def batch_score_day(settings: Settings, day: dt.date) -> dict[str, Any]:
    """Score every scheduled flight of `day` with the champion, each as of its prediction time."""
    from monitoring.reference import NoChampionToMonitor, current_champion

    t0 = time.perf_counter()
    try:
        # The registry's champion, checksum verified: a batch run waits (retries) for the registry.
        champ = current_champion(settings)
    except NoChampionToMonitor as exc:
        log.info("batch scoring %s skipped: %s", day, exc)
        return {"day": day.isoformat(), "skipped": f"no champion yet: {exc}", "flights": 0}
    schedule = schedule_of(settings, day)
    batch_id = f"batch-{day.isoformat()}-{uuid.uuid4().hex[:8]}"
    rows = score_flights(settings, schedule, champ, batch_id) if len(schedule) else []
    written = replace_batch_rows(settings.prediction_log_url, day, rows)
    summary = {
        "day": day.isoformat(),
        "model_version": champ.version,
        "flights": written,
        "with_missing_store_features": sum(1 for r in rows if r["flags"]["missing"]),
        "delayed_share": (sum(r["probability"] >= champ.threshold for r in rows) / written) if written else None,
        "batch_id": batch_id,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    log.info("batch scored %s: %s", day, summary)
    return summary
