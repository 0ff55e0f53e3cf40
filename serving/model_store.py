"""Find, verify and cache the champion model (how bytes become a LoadedModel: serving/loaded_model.py).

    store = ModelStore(settings)
    model = store.load_champion()          # registry -> verified local copy -> LoadedModel

The path a model takes to serving:

    alias "champion" --(MLflow registry)--> version N + tags {sha256, threshold, feature_service}
      --(download from the version's storage location)--> model.onnx
      --(sha256(bytes) == tag?)--> <models_dir>/flight-delay/N/{model.onnx, meta.json}
      --(inputs == contract.MODEL_INPUTS? feature service matches?)--> LoadedModel

The local copy is what lets a pod start while MLflow is down: ONNX metadata carries the threshold
and feature service, and meta.json carries the registry tags, so nothing else is needed. Every load
re-hashes the bytes it hands to ONNX Runtime (from memory, so the file cannot change in between).

When the registry names a champion that cannot be fetched or is refused, the service answers with a
*stand-in*: the nearest earlier champion in the champion's `previous_champion` lineage that has a
verified local copy, flagged in `/v1/model` and the `flightpath_model_stand_in` gauge, while it keeps
trying to fetch the champion. Never a version outside that lineage when there is a choice: after a
rollback from v3 to v2, v3 is not in v2's lineage, so an unfetchable v2 never brings v3 back. With
no model in the lineage, a process that has nothing loaded stays unready (see serving/NOTES.md).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flightpath.artifact import MODEL_FILE, TAG_PREVIOUS_CHAMPION, TAG_SHA256
from flightpath.atomic import atomic_path, write_text
from flightpath.registry_access import download_version, registry_client
from flightpath.settings import Settings
from serving.loaded_model import LoadedModel, ModelRefused, ModelStoreError, load_model_bytes

log = logging.getLogger(__name__)

META_FILE = "meta.json"
LAST_CHAMPION_FILE = "champion.json"  # which local version was champion when we last asked
LINEAGE_LIMIT = 20  # previous_champion links followed when looking for a stand-in
# A local copy that could not be written (disk full, read-only folder) is retried after one poll,
# then two, four, ... up to this: often enough to recover soon after space returns, rarely enough
# not to fill a log with the same error.
CACHE_RETRY_MAX_S = 600.0


class RegistryUnavailable(ModelStoreError):
    """MLflow could not be asked (down, unreachable, misconfigured)."""


class NoChampion(ModelStoreError):
    """MLflow answered, but there is no registered model or no champion alias."""


class NoLocalCopy(ModelStoreError):
    """Starting without the registry needs a verified local copy, and there is none."""


@dataclass(frozen=True)
class RegistryVersion:
    """What the registry says about one model version (enough to fetch and verify it)."""

    name: str
    version: str
    tags: dict[str, str]
    alias: str | None = None


def configure_mlflow_client() -> None:
    """Registry calls from a server must fail fast: MLflow's default is 7 retries over ~4 minutes.

    Only defaults: an operator's explicit environment wins.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


class ModelStore:
    """The registry plus the local cache of verified copies, for one registered model.

    Only the MLflow client and artifacts APIs are used (both are in mlflow-skinny).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.model_name
        self.root = settings.models_dir / self.name
        # Why the last local write failed (None: the cache holds what is served). A failed write
        # never costs the model: it is served from memory and its bytes kept here to write later.
        self.cache_error: str | None = None
        self._unsaved: tuple[LoadedModel, bytes] | None = None
        self._unsaved_champion: str | None = None
        self._cache_retry_s = 0.0
        self._cache_retry_at = 0.0

    # --- registry -------------------------------------------------------------------------------
    def _client(self) -> Any:
        # Both URIs, explicitly: nothing may depend on MLflow's process globals or environment.
        return registry_client(self.settings.mlflow_tracking_uri)

    def champion(self) -> RegistryVersion:
        """Resolve the alias this process follows (settings.model_alias: champion, or challenger on a
        canary or shadow). Raises NoChampion or RegistryUnavailable."""
        from mlflow.exceptions import MlflowException

        alias = self.settings.model_alias
        try:
            mv = self._client().get_model_version_by_alias(self.name, alias)
        except MlflowException as exc:
            # MLflow answered "no such model" / "alias ... not found": reachable, nothing to serve.
            not_found = exc.error_code == "RESOURCE_DOES_NOT_EXIST" or (
                exc.error_code == "INVALID_PARAMETER_VALUE" and "not found" in exc.message
            )
            if not_found:
                raise NoChampion(f"no {alias!r} alias on registered model {self.name!r}: {exc.message}") from exc
            uri = self.settings.mlflow_tracking_uri
            raise RegistryUnavailable(f"MLflow at {uri}: {exc.message}") from exc
        except Exception as exc:  # connection errors, a broken store URI, ...
            raise RegistryUnavailable(f"MLflow at {self.settings.mlflow_tracking_uri}: {exc}") from exc
        tags = dict(mv.tags or {})
        # A challenger is served (canary, shadow) only once the gate passed it: every new version
        # is `challenger` first, the rejected ones included.
        if alias == "challenger" and tags.get("gate.decision") not in ("staged", "promoted"):
            raise NoChampion(f"challenger v{mv.version} of {self.name!r}: gate {tags.get('gate.decision')}, not served")
        return RegistryVersion(self.name, str(mv.version), tags, alias=alias)

    def _download(self, rv: RegistryVersion, into: Path) -> bytes:
        try:
            path = download_version(self.settings.mlflow_tracking_uri, rv.name, rv.version, into)
        except FileNotFoundError as exc:
            raise ModelRefused(f"{rv.name} v{rv.version}: {exc}") from exc
        except Exception as exc:
            raise RegistryUnavailable(f"download of {rv.name} v{rv.version} failed: {exc}") from exc
        return path.read_bytes()

    def lineage(self, rv: RegistryVersion) -> list[str]:
        """The champions before `rv`, nearest first, by following `previous_champion` tags.

        Asks the registry for each link (it just answered for `rv`); stops at the first version it
        cannot read, at a cycle, or after LINEAGE_LIMIT links.
        """
        chain: list[str] = []
        tags = rv.tags
        while len(chain) < LINEAGE_LIMIT:
            previous = tags.get(TAG_PREVIOUS_CHAMPION)
            if not previous or previous == rv.version or previous in chain:
                break
            chain.append(previous)
            try:
                tags = dict(self._client().get_model_version(rv.name, previous).tags or {})
            except Exception as exc:  # noqa: BLE001 - a shorter lineage, said in the log
                log.warning("lineage of %s v%s stops at v%s: %s", rv.name, rv.version, previous, exc)
                break
        return chain

    def load_stand_in(self, rv: RegistryVersion, reason: str, lineage: list[str] | None = None) -> LoadedModel:
        """The nearest version of `rv`'s lineage with a verified local copy, flagged as a stand-in.

        Raises:
            NoLocalCopy: no version of the lineage has a usable local copy.
        """
        lineage = self.lineage(rv) if lineage is None else lineage
        errors = []
        for version in lineage:
            if self._read_local(version) is None:
                continue
            try:
                model = self.load_local(version)
            except ModelStoreError as exc:
                errors.append(str(exc))
                continue
            model.stand_in_for, model.stand_in_reason = rv.version, reason
            log.error(
                "champion %s v%s unusable (%s); serving v%s from its lineage as a stand-in",
                rv.name,
                rv.version,
                reason,
                model.version,
            )
            return model
        raise NoLocalCopy(
            f"{rv.name} v{rv.version} is unusable ({reason}) and no earlier champion of its lineage "
            f"{lineage} has a verified local copy{': ' + '; '.join(errors) if errors else ''}"
        )

    # --- local verified copies --------------------------------------------------------------------
    def version_dir(self, version: str) -> Path:
        return self.root / str(version)

    def _read_local(self, version: str) -> tuple[bytes, dict[str, Any]] | None:
        d = self.version_dir(version)
        try:
            meta = json.loads((d / META_FILE).read_text(encoding="utf-8"))
            return (d / MODEL_FILE).read_bytes(), meta
        except (OSError, ValueError):
            return None

    def _write_local(self, model: LoadedModel, data: bytes) -> None:
        """model.onnx first, meta.json last: a copy without meta.json is incomplete and ignored."""
        d = self.version_dir(model.version)
        with atomic_path(d / MODEL_FILE) as tmp:
            tmp.write_bytes(data)
        meta = {
            "name": model.name,
            "version": model.version,
            "sha256": model.sha256,
            "threshold": model.threshold,
            "tags": model.tags,
            "metadata": model.metadata,
            "fetched_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        write_text(json.dumps(meta, indent=2, sort_keys=True), d / META_FILE)

    def _remember_champion(self, version: str) -> None:
        try:
            write_text(json.dumps({"version": version}), self.root / LAST_CHAMPION_FILE)
        except OSError as exc:
            self._unsaved_champion = version
            self._cache_failed(f"cannot record champion v{version} under {self.root}: {exc}")
        else:
            self._unsaved_champion = None

    # --- a cache that cannot be written -------------------------------------------------------------
    def _keep_local(self, model: LoadedModel, data: bytes) -> None:
        """Write the verified copy; if the disk refuses, keep the bytes to write later (see retry_cache)."""
        try:
            self._write_local(model, data)
        except OSError as exc:
            self._unsaved = (model, data)
            self._cache_failed(f"cannot keep a local copy of {model.name} v{model.version} under {self.root}: {exc}")
        else:
            self._unsaved = None
            self._cache_ok()

    def _cache_failed(self, reason: str) -> None:
        if self.cache_error is None:
            log.error("%s; serving from memory, a restart while MLflow is down would find no model", reason)
        self.cache_error = reason
        self._cache_retry_s = min(max(self._cache_retry_s * 2, self.settings.reload_interval_s), CACHE_RETRY_MAX_S)
        self._cache_retry_at = time.monotonic() + self._cache_retry_s

    def _cache_ok(self) -> None:
        if self._unsaved is None and self._unsaved_champion is None:
            if self.cache_error is not None:
                log.info("local model cache under %s writable again", self.root)
            self.cache_error = None
            self._cache_retry_s = 0.0

    def retry_cache(self, now: float | None = None) -> None:
        """Write what could not be written before, once its back-off has passed (called each poll)."""
        if self.cache_error is None or (time.monotonic() if now is None else now) < self._cache_retry_at:
            return
        if self._unsaved is not None:
            model, data = self._unsaved
            self._keep_local(model, data)
        if self._unsaved_champion is not None:
            self._remember_champion(self._unsaved_champion)
        self._cache_ok()

    def has_local_copy(self, version: str) -> bool:
        """A complete copy (meta.json is written last) exists for `version`."""
        return (self.version_dir(version) / META_FILE).is_file()

    def local_versions(self) -> list[str]:
        """Versions with a complete local copy, newest (highest number) first."""
        if not self.root.is_dir():
            return []
        found = [p.parent.name for p in self.root.glob(f"*/{META_FILE}")]
        return sorted(found, key=lambda v: (int(v) if v.isdigit() else -1, v), reverse=True)

    def load_local(self, version: str) -> LoadedModel:
        """Load one local copy, re-verifying its bytes against the sha256 recorded when it was fetched."""
        got = self._read_local(version)
        if got is None:
            raise NoLocalCopy(f"no complete local copy of {self.name} v{version} under {self.root}")
        data, meta = got
        return load_model_bytes(
            data,
            name=self.name,
            version=str(version),
            expected_sha256=meta.get("sha256"),
            tags=meta.get("tags", {}),
            settings=self.settings,
            source="local",
        )

    def load_newest_local(self) -> LoadedModel:
        """The last version we saw as champion if its copy verifies, else the newest that does."""
        order = self.local_versions()
        try:
            last = json.loads((self.root / LAST_CHAMPION_FILE).read_text())["version"]
            if last in order:
                order.remove(last)
                order.insert(0, last)
        except (OSError, ValueError, KeyError):
            pass
        errors = []
        for version in order:
            try:
                return self.load_local(version)
            except ModelStoreError as exc:
                errors.append(str(exc))
                log.warning("local copy %s v%s unusable: %s", self.name, version, exc)
        detail = f": {errors}" if errors else ""
        raise NoLocalCopy(f"no verified local copy of {self.name} under {self.root}{detail}")

    # --- the two entry points -------------------------------------------------------------------
    def load_version(self, rv: RegistryVersion) -> LoadedModel:
        """Load a registry version, from the local copy when it still matches the sha256 tag.

        Raises ModelRefused (bad artifact) or RegistryUnavailable (download failed).
        """
        expected = rv.tags.get(TAG_SHA256)

        def verified(data: bytes) -> LoadedModel:
            return load_model_bytes(
                data,
                name=rv.name,
                version=rv.version,
                expected_sha256=expected,
                tags=rv.tags,
                settings=self.settings,
                source="registry",
                alias=rv.alias,
            )

        local = self._read_local(rv.version)
        if local is not None and expected and local[1].get("sha256") == expected.lower():
            try:
                return verified(local[0])
            except ModelRefused as exc:  # a tampered or truncated cache: fetch again
                log.warning("local copy of %s v%s failed verification (%s); downloading", rv.name, rv.version, exc)
        tmp = self._download_dir()
        try:
            data = self._download(rv, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        model = verified(data)
        self._keep_local(model, data)
        return model

    def _download_dir(self) -> Path:
        """A fresh folder to download into: beside the cache (one file system, so nothing is copied
        twice), else the system's temporary folder when the cache cannot be written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=".download-", dir=self.root))
        except OSError as exc:
            log.warning("cannot download into %s (%s); using the system's temporary folder", self.root, exc)
        try:
            return Path(tempfile.mkdtemp(prefix="flightpath-download-"))
        except OSError as exc:  # no space anywhere: like a failed download, tried again next poll
            raise RegistryUnavailable(f"no room to download {self.name}: {exc}") from exc

    def load_champion(self) -> LoadedModel:
        """Start-up: the registry's champion, or the newest verified local copy if MLflow is down.

        A champion that cannot be fetched or is refused is replaced by a flagged stand-in from its
        own lineage (never by any other local copy: that could serve a version someone rolled back
        on purpose); with none, this raises and the service starts unready.
        """
        started = time.perf_counter()
        try:
            rv = self.champion()
        except RegistryUnavailable as exc:
            log.warning("registry unavailable (%s); starting from the newest verified local copy", exc)
            model = self.load_newest_local()
            model.stand_in_reason = f"registry unavailable at start-up, champion unconfirmed: {exc}"
        else:
            try:
                model = self.load_version(rv)
            except ModelStoreError as exc:
                try:
                    model = self.load_stand_in(rv, str(exc))
                except NoLocalCopy as none:
                    raise exc from none  # the champion's own problem is the error to report
            else:
                self._remember_champion(model.version)
        log.info(
            "loaded %s v%s from %s in %.0f ms (sha256 %s…)",
            model.name,
            model.version,
            model.source,
            (time.perf_counter() - started) * 1e3,
            model.sha256[:12],
        )
        return model

    def remember_champion(self, model: LoadedModel) -> None:
        self._remember_champion(model.version)
