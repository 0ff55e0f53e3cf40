"""Run the service under uvicorn: `run(settings)` is what `flightpath serve` calls.

One worker: the app object is built here with these exact settings. Several workers: uvicorn
spawns processes that import `serving.server:app_from_environment`, so the settings travel to them
as JSON in an environment variable (each worker then loads its own model and ORT session).
"""

from __future__ import annotations

import json
import os

import uvicorn
from fastapi import FastAPI

from flightpath.settings import Settings, get_settings
from serving.app import create_app

SETTINGS_ENV = "FLIGHTPATH_SERVING_SETTINGS_JSON"


def _settings_json(settings: Settings) -> str:
    # by_alias: fields such as MLFLOW_TRACKING_URI are only settable by their alias.
    return json.dumps(settings.model_dump(mode="json", by_alias=True, exclude_none=True))


def app_from_environment() -> FastAPI:
    """uvicorn factory for worker processes."""
    raw = os.environ.get(SETTINGS_ENV)
    return create_app(Settings(**json.loads(raw)) if raw else get_settings())


def run(settings: Settings | None = None) -> None:
    """Serve until SIGTERM/SIGINT; uvicorn then stops accepting, finishes in-flight requests and
    runs the lifespan shutdown (draining, prediction-log flush)."""
    settings = settings or get_settings()
    common = dict(
        host=settings.serve_host, port=settings.serve_port, access_log=False,
        timeout_graceful_shutdown=20, log_level="info",
    )
    if settings.serve_workers == 1:
        uvicorn.run(create_app(settings), **common)  # type: ignore[arg-type]
    else:
        os.environ[SETTINGS_ENV] = _settings_json(settings)
        uvicorn.run(
            "serving.server:app_from_environment", factory=True, workers=settings.serve_workers,
            **common,  # type: ignore[arg-type]
        )
