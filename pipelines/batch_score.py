"""Batch scoring: every scheduled flight of a day, answered by the champion, into the prediction log.

    batch_score_day(settings, dt.date(2013, 4, 2))   # the daily DAG's batch_score task, `make replay`

Monitoring then works with or without live traffic. Nothing here is a second implementation: the
flights go through the request schema (serving.schemas.FlightRequest), the online feature path
(serving.features: entity keys, one store read, calendar features) and the verified champion
(serving.model_store), exactly as /v1/predict does, and land in the same table marked "batch".

**What is known when.** The answers are made at the start of the day (local midnight), with what
the online store knew then: before scoring, the instant "D 00:00" is materialized (the day's
published schedule, the carrier and route histories up to the day before, the last weather
observation and airport backlog before midnight). Nothing later reaches the online store until
the daily DAG's materialize task runs after this one. The flights come from the day's curated
partition, schedule columns only (carrier, number, tail, airports, scheduled departure): the
schedule is published ahead; the outcome columns are not read.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any

import pandas as pd

from flightpath import lake
from flightpath.prediction_table import SOURCE_BATCH, create_table, make_engine, predictions
from flightpath.settings import Settings

log = logging.getLogger(__name__)

SCHEDULE_COLUMNS = ("carrier", "flight", "tailnum", "origin", "dest", "sched_dep_local")
CHUNK = 1000  # flights per online read and model run (what /v1/predict/batch accepts at once)


def schedule_of(settings: Settings, day: dt.date) -> pd.DataFrame:
    """The day's scheduled flights (schedule columns only) from its curated partition."""
    flights = lake.read_partitions(settings.lake_dir, "curated", "flights", [day])
    return flights[list(SCHEDULE_COLUMNS)].reset_index(drop=True)


def _flight_requests(schedule: pd.DataFrame) -> list[Any]:
    from serving.schemas import FlightRequest

    out = []
    for f in schedule.itertuples(index=False):
        tail = f.tailnum if isinstance(f.tailnum, str) and f.tailnum else None
        out.append(
            FlightRequest(
                carrier=f.carrier,
                flight=int(f.flight),
                tailnum=tail,
                origin=f.origin,
                dest=f.dest,
                sched_dep_local=pd.Timestamp(f.sched_dep_local).to_pydatetime(),
            )
        )
    return out


def score_flights(
    settings: Settings, flights: list[Any], model: Any, reader: Any, batch_id: str
) -> list[dict[str, Any]]:
    """Prediction-log rows for `flights` (FlightRequests): the /v1/predict path, in chunks."""
    from serving.features import assemble, entity_of, read_online, to_columns

    now = dt.datetime.now(dt.UTC)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(flights), CHUNK):
        chunk = flights[start : start + CHUNK]
        t0 = time.perf_counter()
        read = read_online(reader, [entity_of(f) for f in chunk])
        assembled = assemble(chunk, read, settings.horizon)
        probabilities = model.predict(to_columns([r.inputs for r in assembled]))
        per_row_ms = (time.perf_counter() - t0) * 1e3 / len(chunk)
        for i, (flight, row, p) in enumerate(zip(chunk, assembled, probabilities, strict=True)):
            rows.append(
                {
                    "request_id": f"{batch_id}-{start + i}",
                    "ts": now,
                    "model_version": model.version,
                    "inputs": flight.model_dump(mode="json"),
                    "features": row.features_json(),
                    "flags": {
                        "source": SOURCE_BATCH,
                        "degraded": row.degraded,
                        "degraded_reason": row.degraded_reason,
                        "missing": row.missing,
                        "unknown_categories": model.unknown_categories(row.inputs),
                        "stale_views": row.stale_views,
                    },
                    "probability": float(p),
                    "latency_ms": per_row_ms,
                    "flight_day": flight.sched_dep_local.date(),
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
    """Score every scheduled flight of `day` with the champion, as known at the day's start."""
    from features.materialize import materialize
    from features.tables import local_midnight_utc
    from serving.features import default_reader
    from serving.model_store import ModelStore, NoChampion

    t0 = time.perf_counter()
    store = ModelStore(settings)
    try:
        # The registry's champion itself, verified: a batch run waits (retries) for the registry
        # rather than answering with a stand-in nobody would see flagged.
        model = store.load_version(store.champion())
    except NoChampion as exc:
        log.info("batch scoring %s skipped: %s", day, exc)
        return {"day": day.isoformat(), "skipped": f"no champion yet: {exc}", "flights": 0}
    start_of_day = local_midnight_utc(day).to_pydatetime()
    materialize(settings, start_of_day, start_of_day)  # the instant D 00:00: what is known then
    schedule = schedule_of(settings, day)
    flights = _flight_requests(schedule)
    batch_id = f"batch-{day.isoformat()}-{uuid.uuid4().hex[:8]}"
    rows = score_flights(settings, flights, model, default_reader(settings), batch_id)
    written = replace_batch_rows(settings.prediction_log_url, day, rows)
    degraded = sum(1 for r in rows if r["flags"]["degraded"])
    summary = {
        "day": day.isoformat(),
        "model_version": model.version,
        "flights": written,
        "degraded": degraded,
        "delayed_share": (sum(r["probability"] >= model.threshold for r in rows) / written) if written else None,
        "batch_id": batch_id,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    log.info("batch scored %s: %s", day, summary)
    return summary
