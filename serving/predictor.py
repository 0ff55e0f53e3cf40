"""The work behind /v1/predict and /v1/score, kept out of the routers so they stay thin.

predict: flights -> online features (or degraded) + calendar -> model -> answers + log rows
score:   raw model inputs -> model -> answer + log row
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

from features import contract
from serving.features import FeatureReader, assemble, entity_of, read_online, to_columns
from serving.model_store import LoadedModel
from serving.prediction_log import PredictionRow
from serving.runtime import Runtime
from serving.schemas import FlightRequest, ModelRef, Prediction, ScoreResponse


def _item_id(request_id: str, i: int, n: int) -> str:
    return request_id if n == 1 else f"{request_id}:{i}"


def predict_flights(
    flights: Sequence[FlightRequest], *, model: LoadedModel, reader: FeatureReader, runtime: Runtime,
    request_id: str,
) -> list[Prediction]:
    started = time.perf_counter()
    entities = [entity_of(f) for f in flights]
    values, missing, degraded_reason = read_online(reader, entities)
    rows = assemble(flights, values, missing, degraded_reason)
    probabilities = model.predict(to_columns([r.inputs for r in rows]))  # (batch,)
    latency_ms = (time.perf_counter() - started) * 1e3

    m = runtime.metrics
    if degraded_reason is not None:
        m.degraded.labels(reason=degraded_reason).inc(len(flights))
        runtime.note_store_failure(degraded_reason)
    now = dt.datetime.now(dt.UTC)
    ref = ModelRef(name=model.name, version=model.version)
    out = []
    for i, (flight, row, p) in enumerate(zip(flights, rows, probabilities, strict=True)):
        probability = float(p)
        item_id = _item_id(request_id, i, len(flights))
        for name in row.missing:
            m.missing_features.labels(feature=name).inc()
        m.prediction_score.observe(probability)
        flags = {"source": "predict", "degraded": row.degraded, "degraded_reason": row.degraded_reason,
                 "missing": row.missing}
        runtime.prediction_log.submit(PredictionRow(
            request_id=item_id, ts=now, model_version=model.version, inputs=flight.model_dump(mode="json"),
            features=row.features_json(), flags=flags, probability=probability, latency_ms=latency_ms,
        ))
        out.append(Prediction(
            probability=probability, delayed=probability >= model.threshold, threshold=model.threshold,
            model=ref, missing_features=row.missing, degraded=row.degraded, request_id=item_id,
        ))
    return out


def score_row(raw: dict[str, Any], *, model: LoadedModel, runtime: Runtime, request_id: str) -> ScoreResponse:
    started = time.perf_counter()
    probability = float(model.predict(to_columns([raw]))[0])
    latency_ms = (time.perf_counter() - started) * 1e3
    missing = [name for name in contract.NUMERIC_FEATURES if raw.get(name) is None]
    runtime.metrics.prediction_score.observe(probability)
    runtime.prediction_log.submit(PredictionRow(
        request_id=request_id, ts=dt.datetime.now(dt.UTC), model_version=model.version, inputs=raw,
        features=raw, flags={"source": "score", "degraded": False, "missing": missing},
        probability=probability, latency_ms=latency_ms,
    ))
    return ScoreResponse(
        probability=probability, delayed=probability >= model.threshold, threshold=model.threshold,
        model=ModelRef(name=model.name, version=model.version), request_id=request_id,
    )
