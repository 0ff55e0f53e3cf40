"""Which model a process serves, and how it follows the champion: from the registry, or from the
local folder a model-sync process keeps.

    follower.load_initial()          # start-up
    follower.check_for_update()      # each poll: "unchanged", "swapped", "refused", ...
    follower.model                   # what requests read (one reference, replaced by assignment)

Two sources (settings.model_source):
- "registry": ask MLflow for the champion, download, verify, cache, swap; a champion that cannot
  be fetched or is refused is replaced by a stand-in of its lineage (serving/NOTES.md). This is
  what the model-sync process runs (serving/model_sync.py), and what a process started on its own
  (tests, `create_app` by hand) does.
- "folder": follow the decision the model-sync process published (DECISION_FILE, next to the
  verified copies) and load that verified local copy. The worker never talks to MLflow, so it
  imports none of it: what `flightpath serve` runs.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from flightpath.artifact import TAG_SHA256
from flightpath.atomic import write_text
from flightpath.settings import Settings
from serving.loaded_model import LoadedModel, ModelStoreError
from serving.metrics import ServingMetrics
from serving.model_store import ModelStore, NoChampion, RegistryUnavailable, RegistryVersion

log = logging.getLogger(__name__)

DECISION_FILE = "serving.json"  # in <models_dir>/<model name>/: what every worker should serve


class ModelFollower:
    def __init__(self, settings: Settings, store: ModelStore, metrics: ServingMetrics) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.model: LoadedModel | None = None
        self.last_reload_error: str | None = None
        self._refused: dict[tuple[str, str], str] = {}  # (version, sha256 tag) -> reason
        self._reload_lock = threading.Lock()  # one reload at a time (off the hot path)
        self._decision_seen: dict[str, Any] | None = None

    @property
    def follows_folder(self) -> bool:
        return self.settings.model_source == "folder"

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
        self.published(model)

    def load_initial(self) -> None:
        """Start-up load; on failure the process stays up but unready and keeps polling."""
        if self.follows_folder:
            self.follow_folder()
            return
        try:
            self.swap(self.store.load_champion())
        except ModelStoreError as exc:
            self.last_reload_error = str(exc)
            self.metrics.reloads.labels(outcome="error").inc()
            log.error("no model loaded at start-up: %s", exc)
        self.report_cache()

    @property
    def cache_error(self) -> str | None:
        """Why the verified local copy could not be written (None: it is on disk). A worker that
        follows the folder reports the model-sync process's condition, which it published."""
        if self.follows_folder:
            return (self._decision_seen or {}).get("cache_error")
        return self.store.cache_error

    def report_cache(self) -> None:
        """Retry a local copy that could not be written (the store backs off), then say how it stands."""
        if not self.follows_folder:
            self.store.retry_cache()
        self.metrics.model_cache_ok.set(0 if self.cache_error else 1)

    def check_for_update(self) -> str:
        """Poll the champion alias once; load + verify + swap if it moved. Returns the outcome.

        Outcomes: "unchanged", "swapped", "refused" (bad artifact), "known-bad" (refused before;
        not downloaded again), "unavailable" (registry down, or the champion's download failed).
        After "refused" or a failed download the process serves a stand-in from the champion's
        lineage (`_serve_stand_in`) and keeps asking for the champion.
        """
        if self.follows_folder:
            return self.follow_folder()
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

    def published(self, model: LoadedModel) -> None:
        """Called after every swap; the model-sync process overrides it to publish the decision."""

    # --- following the folder (workers under `flightpath serve`) -----------------------------------
    def decision_path(self) -> Path:
        return self.store.root / DECISION_FILE

    def follow_folder(self) -> str:
        """Serve what the model-sync process decided, from its verified local copy.

        Outcomes: "unchanged", "swapped", "waiting" (no decision yet), "refused" (the local copy
        fails verification: sha256 or signature; the current model stays), "known-bad" (that
        version's copy was refused before: not verified again until sync publishes another).
        """
        with self._reload_lock:
            try:
                decision = json.loads(self.decision_path().read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                if self.model is None:
                    self.last_reload_error = f"no model published by model-sync yet ({exc})"
                return "waiting"
            self.last_reload_error = decision.get("error")
            if decision == self._decision_seen:
                return "unchanged"
            current = self.model
            version, sha256 = str(decision["version"]), decision["sha256"]
            flags = (decision.get("stand_in_for"), decision.get("stand_in_reason"))
            if current is not None and (current.version, current.sha256) == (version, sha256):
                if (current.stand_in_for, current.stand_in_reason) != flags:
                    self.swap(replace(current, stand_in_for=flags[0], stand_in_reason=flags[1]))
                self._decision_seen = decision
                return "unchanged"
            key = (version, sha256)
            if key in self._refused:  # verified and refused before: not loaded again every second
                self.last_reload_error = self._refused[key]
                return "known-bad"
            try:
                model = self.store.load_local(version)  # re-verifies sha256 and signature
                if model.sha256 != sha256:
                    raise ModelStoreError(f"the copy is {model.sha256[:12]}…, not the published {sha256[:12]}…")
            except ModelStoreError as exc:
                self._refused[key] = self.last_reload_error = f"published v{version} is unusable here: {exc}"
                self.metrics.reloads.labels(outcome="refused").inc()
                log.error("%s", self.last_reload_error)
                return "refused"
            model.stand_in_for, model.stand_in_reason = flags
            # Where sync got it ("registry", or "local" when MLflow was down at its start): the
            # worker's own disk read is an implementation detail of the hand-over.
            model.source = decision.get("source", model.source)
            self.swap(model)
            self._decision_seen = decision
            self.metrics.reloads.labels(outcome="swapped").inc()
            return "swapped"


def decision_for(follower: ModelFollower, model: LoadedModel) -> dict[str, Any]:
    """What every worker should serve, and the registry error to report."""
    return {
        "version": model.version,
        "sha256": model.sha256,
        "source": model.source,
        "stand_in_for": model.stand_in_for,
        "stand_in_reason": model.stand_in_reason,
        "error": follower.last_reload_error,
        "cache_error": follower.store.cache_error,
    }


def publish_decision(follower: ModelFollower, decision: dict[str, Any]) -> None:
    """Write it atomically: a worker never reads half a file."""
    write_text(json.dumps(decision, indent=2, sort_keys=True), follower.decision_path())
