"""Shared dependencies, declared once so handlers read like sentences.

    def predict(body: FlightRequest, model: ModelDep, features: FeaturesDep, request_id: RequestIdDep)

They are `async def` on purpose although nothing in them awaits: FastAPI runs a plain `def`
dependency in its thread pool, and three thread hops per request for three attribute reads cost
more than the model run itself (`make bench`, docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from flightpath.settings import Settings
from serving.features import FeatureReader
from serving.metrics import ServingMetrics
from serving.model_store import LoadedModel
from serving.prediction_log import PredictionLog
from serving.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_settings(request: Request) -> Settings:
    return request.app.state.runtime.settings


async def get_model(request: Request) -> LoadedModel:
    """The current model, read once per request (a hot swap mid-request cannot mix versions)."""
    model = request.app.state.runtime.model
    if model is None:
        raise HTTPException(status_code=503, detail="no model loaded yet", headers={"Retry-After": "5"})
    return model


async def get_features(request: Request) -> FeatureReader:
    return request.app.state.runtime.reader


async def get_metrics(request: Request) -> ServingMetrics:
    return request.app.state.runtime.metrics


async def get_prediction_log(request: Request) -> PredictionLog:
    return request.app.state.runtime.prediction_log


async def get_request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "")


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
FeaturesDep = Annotated[FeatureReader, Depends(get_features)]
MetricsDep = Annotated[ServingMetrics, Depends(get_metrics)]
PredictionLogDep = Annotated[PredictionLog, Depends(get_prediction_log)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
