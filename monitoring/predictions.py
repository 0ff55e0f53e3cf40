"""What the service answered, read back from the prediction log, and joined with what happened.

    preds = read_predictions(settings.prediction_log_url, [day])      # one row per logged answer
    labelled = join_outcomes(preds, outcomes_of(curated_flights), as_of=end_of_day)

A logged answer belongs to the day of the flight it is about (its scheduled local departure), not
to the wall-clock moment it was logged: in the 2013 replay those are 13 years apart. Rows from
`/v1/score` carry model inputs but no flight, so they cannot be placed on a day or given an outcome;
monitoring reads "predict" (live) and "batch" rows.

**No leakage.** A prediction is scored only against its own flight's outcome (carrier, flight
number, origin and scheduled departure instant all equal), and only once that outcome was known:
the flight's actual departure (scheduled + dep_delay) at or before `as_of`. Cancelled flights never
get a label.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.contract import CATEGORICAL_FEATURES, LABEL, MODEL_INPUTS, NUMERIC_FEATURES
from features.training_set import label
from flightpath.prediction_table import SOURCE_BATCH, SOURCE_PREDICT, make_engine, migrate, predictions

FLIGHT_KEY = ("carrier", "flight", "origin", "sched_dep_utc")
MONITORED_SOURCES = (SOURCE_PREDICT, SOURCE_BATCH)


def _rows(url: str, days: Iterable[dt.date]) -> list[dict[str, Any]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(predictions.name):
                return []
        migrate(engine)  # a log from before flight_day / log_key: migrated once, then indexed reads
        with engine.connect() as conn:
            where = predictions.c.flight_day.in_(list(days))
            result = conn.execute(sa.select(predictions).where(where).order_by(predictions.c.id))
            return [dict(r._mapping) for r in result]
    finally:
        engine.dispose()


def empty_frame() -> pd.DataFrame:
    cols = ["id", "request_id", "ts", "model_version", "source", "degraded", *FLIGHT_KEY, "dest", "tailnum"]
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    for name in MODEL_INPUTS:
        frame[name] = pd.Series(dtype="float64" if name in NUMERIC_FEATURES else object)
    frame["probability"] = pd.Series(dtype="float64")
    return frame


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Prediction-log rows -> one flat frame: flight key, every model input as used, the answer."""
    rows = [r for r in rows if (r["flags"] or {}).get("source") in MONITORED_SOURCES]
    if not rows:
        return empty_frame()
    inputs = pd.DataFrame([r["inputs"] for r in rows])
    features = pd.DataFrame([r["features"] for r in rows]).reindex(columns=list(MODEL_INPUTS))
    frame = pd.DataFrame(
        {
            "id": [r["id"] for r in rows],
            "request_id": [r["request_id"] for r in rows],
            "ts": [r["ts"] for r in rows],
            "model_version": [str(r["model_version"]) for r in rows],
            "source": [r["flags"].get("source") for r in rows],
            "degraded": [bool(r["flags"].get("degraded", False)) for r in rows],
            "carrier": inputs["carrier"].astype(object),
            "flight": inputs["flight"].astype("int64"),
            "origin": inputs["origin"].astype(object),
            "dest": inputs["dest"].astype(object),
            "tailnum": inputs.get("tailnum", pd.Series([None] * len(rows))).astype(object),
            # ISO strings with their UTC offset: the instant is unambiguous, even on the night
            # clocks fall back (two 01:30s a wall-clock key could not tell apart).
            "sched_dep_utc": pd.to_datetime(inputs["sched_dep_local"], utc=True),
        }
    )
    for name in NUMERIC_FEATURES:
        frame[name] = pd.to_numeric(features[name], errors="coerce").astype("float64")
    for name in CATEGORICAL_FEATURES:
        frame[name] = features[name].astype(object)
    frame["probability"] = np.asarray([r["probability"] for r in rows], dtype="float64")
    return frame


def read_predictions(url: str, days: Iterable[dt.date]) -> pd.DataFrame:
    """Live and batch answers about flights scheduled on `days` (local), oldest first."""
    return to_frame(_rows(url, list(days)))


def latest_per_flight(preds: pd.DataFrame) -> pd.DataFrame:
    """One answer per flight and source: the last one logged. A client retrying a request, or a
    batch rerun, must not count the same flight twice."""
    return preds.drop_duplicates([*FLIGHT_KEY, "source"], keep="last").reset_index(drop=True)


def outcomes_of(flights: pd.DataFrame) -> pd.DataFrame:
    """Curated flights -> flight key, the label, and when it became known (actual departure, UTC)."""
    delayed = label(flights["dep_delay"], flights["cancelled"].astype(bool))
    known_at = flights["sched_dep_utc"] + pd.to_timedelta(flights["dep_delay"], unit="min")
    return pd.DataFrame(
        {
            "carrier": flights["carrier"].astype(object),
            "flight": flights["flight"].astype("int64"),
            "origin": flights["origin"].astype(object),
            "sched_dep_utc": pd.to_datetime(flights["sched_dep_utc"], utc=True),
            LABEL: delayed,
            "known_at": pd.to_datetime(known_at, utc=True).where(delayed.notna()),
        }
    ).drop_duplicates(list(FLIGHT_KEY), keep="last")


def join_outcomes(preds: pd.DataFrame, outcomes: pd.DataFrame, *, as_of: dt.datetime) -> pd.DataFrame:
    """Every prediction with its own flight's label where that label was known at `as_of`, else NaN.

    Returns `preds` plus `delayed` (1.0 / 0.0 / NaN) and `known_at`, same rows, same order.
    """
    if as_of.tzinfo is None:
        raise ValueError(f"as_of {as_of} has no timezone: pass a tz-aware instant")
    merged = preds.merge(outcomes, on=list(FLIGHT_KEY), how="left", validate="many_to_one")
    known = merged["known_at"].notna() & (merged["known_at"] <= pd.Timestamp(as_of))
    merged[LABEL] = merged[LABEL].where(known)
    merged["known_at"] = merged["known_at"].where(known)
    return merged
