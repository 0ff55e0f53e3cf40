"""Liveness, readiness and metrics: the endpoints the platform (not the user) calls."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from serving.api.deps import MetricsDep, RuntimeDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Alive: the process answers. Restarting it would not help anything this does not cover."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Ready: a model is loaded and we are not draining. The online store is reported, not required."""
    model = runtime.model
    body = {
        "ready": runtime.ready,
        "model_version": model.version if model else None,
        "stand_in_for": model.stand_in_for if model else None,
        "draining": runtime.draining,
        "online_store": runtime.online.as_dict(),
        "last_reload_error": runtime.last_reload_error,
    }
    return JSONResponse(jsonable_encoder(body), status_code=200 if runtime.ready else 503)


@router.get("/metrics")
def metrics(m: MetricsDep) -> Response:
    payload, content_type = m.render()
    return Response(payload, media_type=content_type)
