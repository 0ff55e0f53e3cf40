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
from serving.loaded_model import LoadedModel
from serving.metrics import ServingMetrics
from serving.prediction_spool import PredictionSpool
from serving.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    """app.state is untyped (Starlette's State): the one place its runtime gets its type back."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


async def get_settings(request: Request) -> Settings:
    return runtime_of(request).settings


async def get_model(request: Request) -> LoadedModel:
    """The current model, read once per request (a hot swap mid-request cannot mix versions)."""
    model = runtime_of(request).model
    if model is None:
        raise HTTPException(status_code=503, detail="no model loaded yet", headers={"Retry-After": "5"})
    return model


async def get_features(request: Request) -> FeatureReader:
    return runtime_of(request).reader


async def get_metrics(request: Request) -> ServingMetrics:
    return runtime_of(request).metrics


async def get_prediction_log(request: Request) -> PredictionSpool:
    return runtime_of(request).prediction_log


async def get_request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
FeaturesDep = Annotated[FeatureReader, Depends(get_features)]
MetricsDep = Annotated[ServingMetrics, Depends(get_metrics)]
PredictionLogDep = Annotated[PredictionSpool, Depends(get_prediction_log)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
