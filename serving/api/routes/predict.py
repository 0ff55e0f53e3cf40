"""POST /v1/predict, /v1/predict/batch (features fetched online) and /v1/score (raw inputs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from serving.api.deps import FeaturesDep, ModelDep, RequestIdDep, RuntimeDep
from serving.predictor import predict_flights, score_row
from serving.schemas import (
    BatchPrediction,
    BatchRequest,
    FlightRequest,
    Prediction,
    ScoreRequest,
    ScoreResponse,
)

router = APIRouter(prefix="/v1", tags=["predictions"])

_422: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid input: origin not EWR/JFK/LGA, nonexistent local time, missing field, ..."}
}


# Sync handlers on purpose: the feature read blocks (SQLite/Redis client), so FastAPI runs them in
# its thread pool instead of stalling the event loop.
@router.post("/predict", response_model=Prediction, responses=_422)
def predict(
    flight: FlightRequest, model: ModelDep, features: FeaturesDep, runtime: RuntimeDep,
    request_id: RequestIdDep,
) -> Prediction:
    """Will this flight depart 15+ minutes late? Online features are fetched for it."""
    (answer,) = predict_flights(
        [flight], model=model, reader=features, runtime=runtime, request_id=request_id
    )
    return answer


@router.post("/predict/batch", response_model=BatchPrediction, responses=_422)
def predict_batch(
    body: BatchRequest, model: ModelDep, features: FeaturesDep, runtime: RuntimeDep, request_id: RequestIdDep
) -> BatchPrediction:
    """Up to 1000 flights in one call: one online read and one model run for all of them."""
    answers = predict_flights(
        body.flights, model=model, reader=features, runtime=runtime, request_id=request_id
    )
    return BatchPrediction(predictions=answers, request_id=request_id)


@router.post("/score", response_model=ScoreResponse, responses=_422)
def score(
    body: ScoreRequest,  # type: ignore[valid-type]  # a model generated from the contract
    model: ModelDep, runtime: RuntimeDep, request_id: RequestIdDep,
) -> ScoreResponse:
    """Model only: the caller brings every model input (numbers may be null = missing)."""
    return score_row(body.model_dump(), model=model, runtime=runtime, request_id=request_id)
