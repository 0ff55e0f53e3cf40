"""Liveness, readiness and metrics: the endpoints the platform (not the user) calls."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from serving.api.deps import MetricsDep, RuntimeDep

router = APIRouter(tags=["operations"])


# The probes are `async def`: they run on the event loop, never queued behind batch or Redis work in
# the thread pool, so a saturated pod still answers its liveness probe (and is not restarted for
# being busy). Nothing in them blocks: they read fields the runtime keeps up to date.
@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the process answers. Restarting it would not help anything this does not cover."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Ready: a model is loaded and we are not draining. The online store is reported, not required."""
    model = runtime.model
    body = {
        "ready": runtime.ready,
        "model_version": model.version if model else None,
        "stand_in_for": model.stand_in_for if model else None,
        "draining": runtime.draining,
        "online_store": runtime.online.as_dict(),
        # Reported, not required: the model is served from memory either way.
        "model_cache": {"ok": runtime.cache_error is None, "detail": runtime.cache_error},
        "last_reload_error": runtime.last_reload_error,
        # Reported, not required: a log that cannot take rows never stops the answers.
        "prediction_log": runtime.prediction_log.health.as_dict(),
    }
    return JSONResponse(jsonable_encoder(body), status_code=200 if runtime.ready else 503)


@router.get("/metrics")
def metrics(m: MetricsDep) -> Response:
    payload, content_type = m.render()
    return Response(payload, media_type=content_type)
