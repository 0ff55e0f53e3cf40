"""The mutable state of one serving process, and the background work that changes it.

Requests only ever *read* `runtime.model`: one attribute, replaced by a single assignment when a
new version has been downloaded, verified and warmed up off the request path. A request that
started on the old model finishes on it (it holds its own reference); the next one sees the new
one. Nothing is locked on the hot path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass

from flightpath.settings import Settings
from serving.features import FeatureReader
from serving.metrics import ServingMetrics
from serving.model_follower import ModelFollower
from serving.model_store import ModelStore
from serving.prediction_spool import PredictionSpool, SpoolHealth

log = logging.getLogger(__name__)

FOLDER_POLL_S = 1.0  # how often a worker looks at the decision model-sync publishes


@dataclass
class StoreStatus:
    up: bool | None = None  # None: not checked yet
    checked_at: dt.datetime | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, object]:
        state = "unknown" if self.up is None else ("up" if self.up else "down")
        return {"status": state, "checked_at": self.checked_at, "detail": self.detail}


class Runtime(ModelFollower):
    """A serving process: the model it follows (serving/model_follower.py), the online store's
    state, the prediction log, and whether it is draining."""

    def __init__(
        self,
        settings: Settings,
        store: ModelStore,
        reader: FeatureReader,
        metrics: ServingMetrics,
        prediction_log: PredictionSpool,
    ) -> None:
        super().__init__(settings, store, metrics)
        self.reader = reader
        self.prediction_log = prediction_log
        self.draining = False
        self.online = StoreStatus()

    # --- online store -----------------------------------------------------------------------------
    def check_online_store(self) -> None:
        try:
            up = bool(self.reader.ping())
            detail = None if up else "ping failed"
        except Exception as exc:  # noqa: BLE001 - a failing ping is "down", with the reason
            up, detail = False, f"{type(exc).__name__}: {exc}"
        self.online = StoreStatus(up=up, checked_at=dt.datetime.now(dt.UTC), detail=detail)
        self.metrics.online_store_up.set(1 if up else 0)

    def note_store_failure(self, reason: str) -> None:
        """A request just failed to read the store: say so at once (readyz body, gauge)."""
        self.online = StoreStatus(up=False, checked_at=dt.datetime.now(dt.UTC), detail=reason)
        self.metrics.online_store_up.set(0)

    def note_store_ok(self) -> None:
        """A request just read the store: if it was marked down, say it is back at once (rather
        than at the next background check, up to reload_interval_s later)."""
        if not self.online.up:
            self.online = StoreStatus(up=True, checked_at=dt.datetime.now(dt.UTC), detail=None)
            self.metrics.online_store_up.set(1)

    # --- readiness --------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        # The online store is deliberately not part of readiness (see NOTES.md, degraded mode).
        return self.model is not None and not self.draining

    # --- prediction log -----------------------------------------------------------------------------
    def maintain_log(self) -> SpoolHealth:
        """Retry a failed spool, read the shipper's report, and say both in metrics (every second)."""
        health = self.prediction_log.maintain()
        m = self.metrics
        m.spool_ok.set(1 if health.ok and not health.full else 0)
        m.spool_backlog.set(health.backlog_rows)
        shipper = health.shipper or {}
        for gauge, field in (
            (m.spool_unshipped, "unshipped_bytes"),
            (m.spool_limit, "limit_bytes"),
            (m.log_lag, "lag_s"),
            (m.log_shipped, "shipped_rows"),
        ):
            if isinstance(shipper.get(field), int | float):
                gauge.set(shipper[field])
        database_ok = (shipper.get("database") or {}).get("ok")
        if database_ok is not None:
            m.log_database_up.set(1 if database_ok else 0)
        return health

    async def poll_forever(self) -> None:
        """Background task, every second: the prediction spool; the model (every second when it
        follows the folder, a read of one small file, so a new champion reaches the workers at most
        a second after model-sync published it; else every reload_interval_s); the online store
        every reload_interval_s."""
        model_checked = store_checked = time.monotonic()
        interval = self.settings.reload_interval_s
        while True:
            await asyncio.sleep(FOLDER_POLL_S)
            try:
                await asyncio.to_thread(self.maintain_log)
                now = time.monotonic()
                if self.follows_folder or now - model_checked >= interval:
                    model_checked = now
                    await asyncio.to_thread(self.check_for_update)
                    await asyncio.to_thread(self.report_cache)
                if now - store_checked >= interval:
                    store_checked = now
                    await asyncio.to_thread(self.check_online_store)
            except Exception:  # never let the poller die silently
                log.exception("background poll failed")
