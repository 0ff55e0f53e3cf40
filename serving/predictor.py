"""The work behind /v1/predict and /v1/score, kept out of the routers so they stay thin.

predict: flights -> online features (or degraded) + calendar -> model -> answers + log rows
score:   raw model inputs -> model -> answer + log row
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException

from features import contract
from serving.features import FeatureReader, assemble, entity_of, read_online, to_columns
from serving.loaded_model import LoadedModel
from serving.metrics import ServingMetrics
from serving.prediction_spool import PredictionRow
from serving.runtime import Runtime
from serving.schemas import FlightRequest, ModelRef, Prediction, ScoreResponse


def _item_id(request_id: str, i: int, n: int) -> str:
    return request_id if n == 1 else f"{request_id}:{i}"


def predict_flights(
    flights: Sequence[FlightRequest],
    *,
    model: LoadedModel,
    reader: FeatureReader,
    runtime: Runtime,
    request_id: str,
) -> list[Prediction]:
    started = time.perf_counter()
    entities = [entity_of(f) for f in flights]
    read = read_online(reader, entities)
    rows = assemble(flights, read, runtime.settings.horizon)
    probabilities = model.predict(to_columns([r.inputs for r in rows]))  # (batch,)
    latency_ms = (time.perf_counter() - started) * 1e3

    m = runtime.metrics
    degraded_reason = read.degraded_reason
    m.feature_fetch.labels(outcome="ok" if degraded_reason is None else "degraded").observe(read.seconds)
    if degraded_reason is not None:
        m.degraded.labels(reason=degraded_reason).inc(len(flights))
        runtime.note_store_failure(degraded_reason)
    else:
        runtime.note_store_ok()
    _observe_freshness(m, read.stamps)
    now = dt.datetime.now(dt.UTC)
    ref = ModelRef(name=model.name, version=model.version)
    out = []
    for i, (flight, row, p) in enumerate(zip(flights, rows, probabilities, strict=True)):
        probability = float(p)
        item_id = _item_id(request_id, i, len(flights))
        for name in row.missing:
            m.missing_features.labels(feature=name).inc()
        for view in row.stale_views:
            m.stale_views.labels(view=view).inc()
        unknown = _unknown(model, row.inputs, m)
        m.prediction_score.observe(probability)
        flags = {
            "source": "shadow" if runtime.settings.serving_role == "shadow" else "predict",
            "degraded": row.degraded,
            "degraded_reason": row.degraded_reason,
            "missing": row.missing,
            "unknown_categories": unknown,
            "stale_views": row.stale_views,
        }
        runtime.prediction_log.submit(
            PredictionRow(
                request_id=item_id,
                ts=now,
                model_version=model.version,
                inputs=flight.model_dump(mode="json"),
                features=row.features_json(),
                flags=flags,
                probability=probability,
                latency_ms=latency_ms,
                flight_day=flight.sched_dep_local.date(),
            )
        )
        out.append(
            Prediction(
                probability=probability,
                delayed=probability >= model.threshold,
                threshold=model.threshold,
                model=ref,
                missing_features=row.missing,
                degraded=row.degraded,
                request_id=item_id,
                unknown_categories=unknown,
                stale_views=row.stale_views,
            )
        )
    return out


def _unknown(model: LoadedModel, inputs: dict[str, Any], m: ServingMetrics) -> list[str]:
    """Categorical inputs outside the model's vocabulary, counted per feature."""
    unknown = model.unknown_categories(inputs)
    for name in unknown:
        m.unknown_categories.labels(feature=name).inc()
    return unknown


def _observe_freshness(m: ServingMetrics, stamps: Sequence[dict[str, dt.datetime | None]]) -> None:
    """Per view, the newest event time this read returned (unix seconds) as a gauge."""
    newest: dict[str, dt.datetime] = {}
    for per_view in stamps:
        for view, stamp in per_view.items():
            if stamp is not None and (view not in newest or stamp > newest[view]):
                newest[view] = stamp
    for view, stamp in newest.items():
        m.feature_event_time.labels(view=view).set(stamp.timestamp())


def score_row(raw: dict[str, Any], *, model: LoadedModel, runtime: Runtime, request_id: str) -> ScoreResponse:
    started = time.perf_counter()
    probability = float(model.predict(to_columns([raw]))[0])
    if not math.isfinite(probability):
        # Finite inputs beyond float32 range overflow inside the graph (found by fuzzing).
        raise HTTPException(422, "the model produced no probability for these inputs (numbers out of range?)")
    latency_ms = (time.perf_counter() - started) * 1e3
    missing = [name for name in contract.NUMERIC_FEATURES if raw.get(name) is None]
    unknown = _unknown(model, raw, runtime.metrics)
    runtime.metrics.prediction_score.observe(probability)
    runtime.prediction_log.submit(
        PredictionRow(
            request_id=request_id,
            ts=dt.datetime.now(dt.UTC),
            model_version=model.version,
            inputs=raw,
            features=raw,
            flags={
                "source": "shadow" if runtime.settings.serving_role == "shadow" else "score",
                "degraded": False,
                "missing": missing,
                "unknown_categories": unknown,
            },
            probability=probability,
            latency_ms=latency_ms,
        )
    )
    return ScoreResponse(
        probability=probability,
        delayed=probability >= model.threshold,
        threshold=model.threshold,
        model=ModelRef(name=model.name, version=model.version),
        request_id=request_id,
        unknown_categories=unknown,
    )
