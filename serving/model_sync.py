"""The model-sync process: one per server, it follows the registry so the workers do not have to.

    python -m serving.model_sync            # `flightpath serve` starts it beside uvicorn, and stops it

Every reload_interval_s it does what a process following the registry does (serving/model_follower.py,
"registry"): resolve `champion`, download, verify (sha256, signature, input contract, a smoke run),
write the verified copy under <models_dir>/<model>/<version>/, or pick a stand-in of the champion's
lineage when the champion cannot be served. Then it publishes the decision (DECISION_FILE) that the
workers follow, loading the copy from disk and verifying it again. So a worker imports no MLflow
client, holds no registry connection and pays for no download; N workers make one download, not N.

A decision is published only once its copy is on disk: a worker can always load what it is told.
The process has no port of its own: its state reaches users through the workers (`/readyz`'s
`last_reload_error` carries the decision's `error`, `/v1/model` the stand-in flags).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time

from flightpath import logs
from flightpath.settings import Settings
from serving.loaded_model import LoadedModel
from serving.metrics import ServingMetrics
from serving.model_follower import ModelFollower, decision_for, publish_decision
from serving.model_store import ModelStore, configure_mlflow_client
from serving.sidecar import ORPHAN_CHECK_S, StopFlag, lower_priority, orphaned, settings_from_environment

log = logging.getLogger(__name__)

STOP_GRACE_S = 2.0  # after SIGTERM, the longest a poll in progress may keep the process alive


class ModelSync(ModelFollower):
    """A ModelFollower on the registry that publishes what it serves for the workers."""

    def __init__(self, settings: Settings, store: ModelStore | None = None) -> None:
        settings = settings.model_copy(update={"model_source": "registry"})
        super().__init__(settings, store or ModelStore(settings), ServingMetrics())
        self._last_published: dict[str, object] | None = None

    def published(self, model: LoadedModel) -> None:
        """After every swap (the follower calls it): tell the workers, once the copy is on disk."""
        decision = decision_for(self, model)
        if decision == self._last_published:
            return
        if not self.store.has_local_copy(model.version):  # they could not load it: they keep theirs
            log.error("v%s is not on disk (%s): not published yet", model.version, self.store.cache_error)
            if self._last_published is not None:  # but they report why
                decision = {**self._last_published, "cache_error": self.store.cache_error}
                if decision != self._last_published:
                    with contextlib.suppress(OSError):  # a folder that refuses the copy may refuse this too
                        publish_decision(self, decision)
                        self._last_published = decision
            return
        try:
            publish_decision(self, decision)
        except OSError as exc:  # the folder itself is unwritable: the workers keep what they serve
            log.error("cannot publish v%s for the workers: %s", model.version, exc)
            return
        self._last_published = decision
        log.info("published v%s for the workers", model.version, extra={"fields": decision})

    def sync_once(self) -> str:
        """One poll: follow the registry, retry a pending local copy, publish what changed (a new
        version, a stand-in flag, an error to report, a copy that landed late)."""
        outcome = self.check_for_update()
        self.store.retry_cache()
        if self.model is not None:
            self.published(self.model)
        return outcome

    def run(self, stop: StopFlag) -> None:
        """Sync until stopped or the server that started this process is gone."""
        parent = os.getppid()
        self.load_initial()  # publishes through `published` when it loads something
        next_sync = time.monotonic() + self.settings.reload_interval_s
        while not stop.wait(min(ORPHAN_CHECK_S, max(next_sync - time.monotonic(), 0))):
            if orphaned(parent):
                log.warning("the server (pid %d) is gone; model sync stops", parent)
                return
            if time.monotonic() < next_sync:
                continue
            next_sync = time.monotonic() + self.settings.reload_interval_s
            try:
                self.sync_once()
            except Exception:  # never let the sync loop die silently
                log.exception("model sync failed; trying again in %.0f s", self.settings.reload_interval_s)


def main() -> None:
    settings = settings_from_environment()
    logs.configure(json_lines=settings.log_json)
    lower_priority()
    configure_mlflow_client()
    # A poll in progress may finish; one that hangs is cut STOP_GRACE_S later. Safe: whatever this
    # process writes (model copies, the decision) lands by rename.
    stop = StopFlag.install(grace_s=STOP_GRACE_S)
    log.info("model sync: following %s every %.0f s", settings.model_name, settings.reload_interval_s)
    ModelSync(settings).run(stop)
    sys.exit(0)


if __name__ == "__main__":
    main()
