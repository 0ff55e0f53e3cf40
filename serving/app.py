"""The app factory.

    app = create_app(settings)                      # production: Feast reader, MLflow registry
    app = create_app(settings, reader=FakeReader())  # tests: any FeatureReader

Start-up (lifespan), in order: prediction spool, champion model (registry, else the newest
verified local copy), online-store check, garbage-collector freeze, background poller. Shutdown:
mark draining (readyz -> 503), stop the poller, close the spool (every row is already on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from flightpath.settings import Settings, get_settings
from serving.api.errors import validation_error
from serving.api.routes import health, model, predict
from serving.features import FeatureReader, default_reader
from serving.metrics import ServingMetrics
from serving.middleware import LimitsMiddleware, ObservabilityMiddleware
from serving.model_store import ModelStore, configure_mlflow_client
from serving.prediction_spool import PredictionSpool
from serving.runtime import Runtime

log = logging.getLogger(__name__)

NOTES = Path(__file__).with_name("NOTES.md")


def _description() -> str:
    intro = "Will a 2013 NYC flight depart 15+ minutes late? The champion ONNX model behind FastAPI.\n\n"
    try:
        return intro + NOTES.read_text(encoding="utf-8")
    except OSError:
        return intro


def freeze_startup_objects() -> None:
    """Move everything start-up created (Feast, MLflow, pandas, the model: millions of objects)
    out of the garbage collector's reach.

    They live as long as the process, yet every full (generation 2) collection walked all of them:
    measured 240-265 ms pauses during `make bench`, stalling every request in flight. After
    `gc.freeze()` a collection only looks at objects created since. Collect first, so garbage from
    start-up is freed rather than frozen.
    """
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings | None = None,
    *,
    reader: FeatureReader | None = None,
    store: ModelStore | None = None,
    poll: bool = True,
) -> FastAPI:
    """Build the serving app.

    Args:
        settings: defaults to the process settings (environment).
        reader: the online feature reader; defaults to the Feast-backed features.online reader.
        store: the model store; defaults to MLflow + settings.models_dir.
        poll: run the background hot-reload / store-check loop (tests may drive it by hand).
    Returns:
        The FastAPI app; nothing is loaded until its lifespan starts.
    """
    settings = settings or get_settings()
    metrics = ServingMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_mlflow_client()
        plog = PredictionSpool(
            settings.spool_dir,
            fsync_each=settings.prediction_spool_fsync == "always",
            rotate_bytes=settings.prediction_spool_segment_kb * 1024,
            on_drop=lambda reason: metrics.log_dropped.labels(reason=reason).inc(),
            on_accepted=metrics.log_accepted.inc,
        )
        runtime = Runtime(
            settings,
            store or ModelStore(settings),
            reader or default_reader(settings),
            metrics,
            plog,
        )
        app.state.runtime = runtime
        plog.start()
        runtime.maintain_log()
        # Blocking start-up work off the event loop; the process is unready until it finishes.
        await asyncio.to_thread(runtime.load_initial)
        await asyncio.to_thread(runtime.check_online_store)  # also warms the reader (Feast import)
        freeze_startup_objects()
        poller = asyncio.create_task(runtime.poll_forever(), name="model-poller") if poll else None
        try:
            yield
        finally:
            runtime.draining = True
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            await asyncio.to_thread(plog.close)

    app = FastAPI(
        title="flightpath serving",
        version="1",
        description=_description(),
        lifespan=lifespan,
    )
    if settings.shadow_url:  # innermost: it sees the body the route read and the status it answered
        from serving.shadow_mirror import ShadowMirror

        app.add_middleware(
            ShadowMirror, url=settings.shadow_url, metrics=metrics, max_in_flight=settings.shadow_max_in_flight
        )
    # Added last = outermost: Observability sees (and counts) the 413s and 503s Limits answers.
    app.add_middleware(
        LimitsMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        max_in_flight=settings.max_in_flight,
        body_timeout_s=settings.body_timeout_s,
    )
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    app.add_exception_handler(RequestValidationError, validation_error)
    for module in (predict, model, health):
        app.include_router(module.router)
    return app
