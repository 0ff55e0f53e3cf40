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
import threading
from dataclasses import dataclass, replace

from flightpath.artifact import TAG_SHA256
from flightpath.settings import Settings
from serving.features import FeatureReader
from serving.loaded_model import LoadedModel, ModelStoreError
from serving.metrics import ServingMetrics
from serving.model_store import ModelStore, NoChampion, RegistryUnavailable, RegistryVersion
from serving.prediction_log import PredictionLog

log = logging.getLogger(__name__)


@dataclass
class StoreStatus:
    up: bool | None = None  # None: not checked yet
    checked_at: dt.datetime | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, object]:
        state = "unknown" if self.up is None else ("up" if self.up else "down")
        return {"status": state, "checked_at": self.checked_at, "detail": self.detail}


class Runtime:
    def __init__(
        self,
        settings: Settings,
        store: ModelStore,
        reader: FeatureReader,
        metrics: ServingMetrics,
        prediction_log: PredictionLog,
    ) -> None:
        self.settings = settings
        self.store = store
        self.reader = reader
        self.metrics = metrics
        self.prediction_log = prediction_log
        self.model: LoadedModel | None = None
        self.draining = False
        self.online = StoreStatus()
        self.last_reload_error: str | None = None
        self._refused: dict[tuple[str, str], str] = {}  # (version, sha256 tag) -> reason
        self._reload_lock = threading.Lock()  # one reload at a time (off the hot path)

    # --- model ------------------------------------------------------------------------------------
    def swap(self, model: LoadedModel) -> None:
        """Serve `model` from the next request on (it was verified and warmed up by the store)."""
        previous = self.model
        self.model = model  # the atomic swap: a single reference assignment
        self.metrics.set_model(model.name, model.version, model.sha256, model.source, stand_in=model.is_stand_in)
        log.info(
            "serving %s v%s%s (was %s)",
            model.name,
            model.version,
            f" as a stand-in for v{model.stand_in_for}" if model.is_stand_in else "",
            previous.version if previous else None,
        )

    def load_initial(self) -> None:
        """Start-up load; on failure the process stays up but unready and keeps polling."""
        try:
            self.swap(self.store.load_champion())
        except ModelStoreError as exc:
            self.last_reload_error = str(exc)
            self.metrics.reloads.labels(outcome="error").inc()
            log.error("no model loaded at start-up: %s", exc)
        self.report_cache()

    def report_cache(self) -> None:
        """Retry a local copy that could not be written (the store backs off), then say how it stands."""
        self.store.retry_cache()
        self.metrics.model_cache_ok.set(0 if self.store.cache_error else 1)

    def check_for_update(self) -> str:
        """Poll the champion alias once; load + verify + swap if it moved. Returns the outcome.

        Outcomes: "unchanged", "swapped", "refused" (bad artifact), "known-bad" (refused before;
        not downloaded again), "unavailable" (registry down, or the champion's download failed).
        After "refused" or a failed download the process serves a stand-in from the champion's
        lineage (`_serve_stand_in`) and keeps asking for the champion.
        """
        with self._reload_lock:
            try:
                rv = self.store.champion()
            except NoChampion as exc:
                self.last_reload_error = str(exc)
                return "unavailable"
            except RegistryUnavailable as exc:
                self.last_reload_error = str(exc)
                if self.model is None:
                    # Started with neither registry nor model: a verified local copy beats nothing.
                    try:
                        self.swap(self.store.load_newest_local())
                        self.metrics.reloads.labels(outcome="swapped").inc()
                        return "swapped"
                    except ModelStoreError:
                        pass
                return "unavailable"
            current = self.model
            key = (rv.version, rv.tags.get(TAG_SHA256, ""))
            if current is not None and (current.version, current.sha256) == key:
                if current.is_stand_in:  # started from the local copy; the registry now confirms it
                    self.swap(replace(current, stand_in_for=None, stand_in_reason=None))
                    self.last_reload_error = None
                return "unchanged"
            if key in self._refused:
                return "known-bad"
            try:
                model = self.store.load_version(rv)
            except RegistryUnavailable as exc:
                self.last_reload_error = str(exc)
                self.metrics.reloads.labels(outcome="error").inc()
                self._serve_stand_in(rv, str(exc))
                return "unavailable"
            except ModelStoreError as exc:
                self._refused[key] = str(exc)
                self.last_reload_error = str(exc)
                self.metrics.reloads.labels(outcome="refused").inc()
                log.error("refusing %s v%s: %s", rv.name, rv.version, exc)
                self._serve_stand_in(rv, str(exc))
                return "refused"
            self.swap(model)
            self.store.remember_champion(model)
            self.last_reload_error = None
            self.metrics.reloads.labels(outcome="swapped").inc()
            return "swapped"

    def _serve_stand_in(self, rv: RegistryVersion, reason: str) -> None:
        """The champion `rv` cannot be served: answer with the nearest model of its lineage.

        The current model stays if it is in the lineage (a new champion failed to arrive: the one
        before it is the right stand-in). If it is not (the alias moved *back*, e.g. a rollback),
        the nearest earlier champion with a verified local copy replaces it. If there is none, a
        running process keeps its model, flagged: dropping to no model would turn every replica
        unready at once, an outage; the flag, the gauge and the alert tell the operator.
        """
        current = self.model
        lineage = self.store.lineage(rv)
        if current is None or current.version not in lineage:
            try:
                self.swap(self.store.load_stand_in(rv, reason, lineage))
                return
            except ModelStoreError as exc:
                if current is None:
                    self.last_reload_error = str(exc)
                    return
                reason = f"{reason}; v{current.version} is not in its lineage {lineage}, but nothing else is available"
        if (current.stand_in_for, current.stand_in_reason) != (rv.version, reason):
            self.swap(replace(current, stand_in_for=rv.version, stand_in_reason=reason))

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

    async def poll_forever(self) -> None:
        """Background task: every reload_interval_s, check the alias and the online store."""
        while True:
            await asyncio.sleep(self.settings.reload_interval_s)
            try:
                await asyncio.to_thread(self.check_for_update)
                await asyncio.to_thread(self.report_cache)
                await asyncio.to_thread(self.check_online_store)
            except Exception:  # never let the poller die silently
                log.exception("background poll failed")
