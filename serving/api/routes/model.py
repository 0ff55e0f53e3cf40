"""GET /v1/model: which model answers, and where it came from."""

from __future__ import annotations

from fastapi import APIRouter

from serving.api.deps import ModelDep
from serving.schemas import ModelInfo

router = APIRouter(prefix="/v1", tags=["model"])


@router.get("/model", response_model=ModelInfo)
def model_info(model: ModelDep) -> ModelInfo:
    return ModelInfo(
        name=model.name,
        version=model.version,
        alias=model.alias,
        threshold=model.threshold,
        train_window=model.train_window,
        feature_service=model.feature_service,
        feature_service_version=model.feature_service_version,
        sha256=model.sha256,
        source=model.source,
        loaded_at=model.loaded_at,
        stand_in_for=model.stand_in_for,
        stand_in_reason=model.stand_in_reason,
        inputs=model.input_names,
        metadata=model.metadata,
    )
