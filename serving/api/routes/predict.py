"""POST /v1/predict, /v1/predict/batch (features fetched online) and /v1/score (raw inputs)."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

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


@router.post("/predict", response_model=Prediction, responses=_422)
async def predict(
    flight: FlightRequest,
    model: ModelDep,
    features: FeaturesDep,
    runtime: RuntimeDep,
    request_id: RequestIdDep,
) -> Prediction:
    """Will this flight depart 15+ minutes late? Online features are fetched for it."""
    work = partial(predict_flights, [flight], model=model, reader=features, runtime=runtime, request_id=request_id)
    # A local store (SQLite in WAL mode: a read never waits for a writer) answers one flight in
    # ~0.1 ms, less than the thread-pool hop costs (~0.3 ms of CPU, make bench), so it is read on
    # the event loop. A network store (Redis) can be slow or hang until its timeout: thread pool,
    # so one slow read never stalls the other requests or the probes.
    if getattr(features, "reads_locally", False):
        (answer,) = work()
    else:
        (answer,) = await run_in_threadpool(work)
    return answer


# Sync on purpose: up to 1000 flights' features are read and scored, so FastAPI runs it in its
# thread pool instead of stalling the event loop.
@router.post("/predict/batch", response_model=BatchPrediction, responses=_422)
def predict_batch(
    body: BatchRequest, model: ModelDep, features: FeaturesDep, runtime: RuntimeDep, request_id: RequestIdDep
) -> BatchPrediction:
    """Up to 1000 flights in one call: one online read and one model run for all of them."""
    answers = predict_flights(body.flights, model=model, reader=features, runtime=runtime, request_id=request_id)
    return BatchPrediction(predictions=answers, request_id=request_id)


# Async on purpose: no I/O at all (the model run is ~0.1 ms of CPU), so the thread-pool hop a sync
# handler pays would cost more than it could ever save.
@router.post("/score", response_model=ScoreResponse, responses=_422)
async def score(
    body: ScoreRequest,  # a model generated from the contract
    model: ModelDep,
    runtime: RuntimeDep,
    request_id: RequestIdDep,
) -> ScoreResponse:
    """Model only: the caller brings every model input (numbers may be null = missing)."""
    return score_row(body.model_dump(), model=model, runtime=runtime, request_id=request_id)
