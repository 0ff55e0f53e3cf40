"""Find, verify, cache and load the champion model.

    store = ModelStore(settings)
    model = store.load_champion()          # registry -> verified local copy -> InferenceSession
    model.predict({"wx_temp": np.array([31.0], np.float32), ..., "origin": np.array(["EWR"])})

The path a model takes to serving:

    alias "champion" --(MLflow registry)--> version N + tags {sha256, threshold, feature_service}
      --(download models:/flight-delay/N)--> model.onnx
      --(sha256(bytes) == tag?)--> <models_dir>/flight-delay/N/{model.onnx, meta.json}
      --(inputs == contract.MODEL_INPUTS? feature service matches?)--> LoadedModel

The local copy is what lets a pod start while MLflow is down: ONNX metadata carries the threshold
and feature service, and meta.json carries the registry tags, so nothing else is needed. Every load
re-hashes the bytes it hands to ONNX Runtime (from memory, so the file cannot change in between).
Nothing here unpickles: an ONNX file is a protobuf, not code.

When the registry names a champion that cannot be fetched or is refused, the service answers with a
*stand-in*: the nearest earlier champion in the champion's `previous_champion` lineage that has a
verified local copy, flagged in `/v1/model` and the `flightpath_model_stand_in` gauge, while it keeps
trying to fetch the champion. Never a version outside that lineage when there is a choice: after a
rollback from v3 to v2, v3 is not in v2's lineage, so an unfetchable v2 never brings v3 back. With
no model in the lineage, a process that has nothing loaded stays unready (see serving/NOTES.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from features import contract
from flightpath.atomic import atomic_path, write_text
from flightpath.registry_access import MODEL_FILE, download_version, registry_client
from flightpath.settings import Settings

log = logging.getLogger(__name__)

CHAMPION = "champion"
META_FILE = "meta.json"
LAST_CHAMPION_FILE = "champion.json"  # which local version was champion when we last asked
LINEAGE_LIMIT = 20  # previous_champion links followed when looking for a stand-in

_NUMERIC_TYPE = "tensor(float)"
_STRING_TYPE = "tensor(string)"


class ModelStoreError(RuntimeError):
    """Base class: no usable model could be produced."""


class ModelRefused(ModelStoreError):
    """The artifact exists but must not be served (checksum, input contract, feature service)."""


class RegistryUnavailable(ModelStoreError):
    """MLflow could not be asked (down, unreachable, misconfigured)."""


class NoChampion(ModelStoreError):
    """MLflow answered, but there is no registered model or no champion alias."""


class NoLocalCopy(ModelStoreError):
    """Starting without the registry needs a verified local copy, and there is none."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class RegistryVersion:
    """What the registry says about one model version (enough to fetch and verify it)."""

    name: str
    version: str
    tags: dict[str, str]
    alias: str | None = None


@dataclass
class LoadedModel:
    """A verified model and its ONNX Runtime session; immutable once built, shared by all threads.

    `InferenceSession.run` is thread-safe, so one instance serves every request of a process.
    """

    name: str
    version: str
    sha256: str
    threshold: float
    metadata: dict[str, str]  # ONNX metadata_props
    tags: dict[str, str]  # registry tags at fetch time
    source: str  # "registry" or "local"
    session: ort.InferenceSession = field(repr=False)
    alias: str | None = CHAMPION
    loaded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    # Categorical input -> the strings its LabelEncoder knows; anything else takes the model's
    # out-of-vocabulary bucket. An input without a LabelEncoder is absent (nothing to flag).
    vocabularies: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    # Set when this model answers in place of the registry's champion (see the module docstring):
    # the champion's version (None: the registry could not be asked) and why it is not served.
    stand_in_for: str | None = None
    stand_in_reason: str | None = None

    @property
    def is_stand_in(self) -> bool:
        return self.stand_in_reason is not None

    def unknown_categories(self, row: Mapping[str, Any]) -> list[str]:
        """Categorical inputs of one row whose value the model never saw (contract order)."""
        return [name for name, vocab in self.vocabularies.items() if str(row.get(name)) not in vocab]

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.session.get_inputs()]

    @property
    def feature_service(self) -> str | None:
        return self.metadata.get("feature_service") or self.tags.get("feature_service")

    @property
    def feature_service_version(self) -> str | None:
        return self.metadata.get("feature_service_version")

    @property
    def train_window(self) -> str | None:
        return self.metadata.get("train_window") or self.tags.get("train_window")

    def predict(self, features: Mapping[str, Any]) -> np.ndarray:
        """Probabilities for a batch.

        Args:
            features: one 1-D array (or list) per name in contract.MODEL_INPUTS, all the same
                length; numbers as float32 with NaN for missing, categoricals as strings.
        Returns:
            float32 array of shape (batch,).
        """
        feed: dict[str, np.ndarray] = {}
        for name in contract.NUMERIC_FEATURES:
            feed[name] = _column(_required(features, name), np.float32)
        for name in contract.CATEGORICAL_FEATURES:
            feed[name] = _column(_required(features, name), object)
        sizes = {len(v) for v in feed.values()}
        if len(sizes) != 1:
            raise ValueError(f"inputs have different batch sizes: {sorted(sizes)}")
        (probability,) = self.session.run(["probability"], feed)
        return np.asarray(probability, dtype=np.float32).reshape(-1)


def _column(values: Any, dtype: Any) -> np.ndarray:
    """A 1-D array of `dtype`; an array that already is one passes through untouched (the request
    path builds exactly those, and 25 no-op conversions per request are measurable)."""
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype == dtype:
        return values
    return np.asarray(values, dtype=dtype).reshape(-1)


def _required(features: Mapping[str, Any], name: str) -> Any:
    try:
        return features[name]
    except KeyError:
        raise ValueError(f"missing model input {name!r}") from None


def new_session(model_bytes: bytes) -> ort.InferenceSession:
    """One session per process; one intra-op thread (tiny model: more threads only add tail latency)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_bytes, sess_options=opts, providers=["CPUExecutionProvider"])


def check_contract(session: ort.InferenceSession, metadata: Mapping[str, str], settings: Settings) -> None:
    """Refuse a model that the serving code cannot feed correctly. Raises ModelRefused."""
    inputs = {i.name: i for i in session.get_inputs()}
    expected = set(contract.MODEL_INPUTS)
    if set(inputs) != expected:
        missing = sorted(expected - set(inputs))
        extra = sorted(set(inputs) - expected)
        raise ModelRefused(f"model inputs do not match contract.MODEL_INPUTS: missing={missing} extra={extra}")
    problems = []
    for name in contract.MODEL_INPUTS:
        want = _STRING_TYPE if name in contract.CATEGORICAL_FEATURES else _NUMERIC_TYPE
        got = inputs[name]
        if got.type != want or len(got.shape) != 1:
            problems.append(f"{name}: {got.type}{got.shape} (want {want} of rank 1)")
    if problems:
        raise ModelRefused("model input types do not match the contract: " + "; ".join(problems))
    outputs = [o.name for o in session.get_outputs()]
    if "probability" not in outputs:
        raise ModelRefused(f"model has no 'probability' output (outputs: {outputs})")

    # The feature set the model was trained on must be the one serving fetches.
    fs, fs_version = metadata.get("feature_service"), metadata.get("feature_service_version")
    if fs is not None and fs != settings.feature_service:
        raise ModelRefused(f"model was trained for feature service {fs!r}, serving reads {settings.feature_service!r}")
    if fs_version is not None and fs_version != contract.feature_service_version():
        raise ModelRefused(
            f"model feature_service_version {fs_version!r} != this code's {contract.feature_service_version()!r}"
        )


def vocabularies_of(data: bytes) -> dict[str, frozenset[str]]:
    """`keys_strings` of each ai.onnx.ml LabelEncoder that reads a categorical graph input directly
    (training/export.py puts one in front of the network per categorical; the tiny test model too).

    Parsing the protobuf a second time costs a few ms, once per load; no code is executed.
    """
    import onnx

    try:
        graph = onnx.load_from_string(data).graph
    except Exception as exc:  # noqa: BLE001 - ORT accepted the bytes; only the flagging is lost
        log.warning("cannot read LabelEncoder vocabularies: %s", exc)
        return {}
    wanted = set(contract.CATEGORICAL_FEATURES) & {i.name for i in graph.input}
    found: dict[str, frozenset[str]] = {}
    for node in graph.node:
        if node.op_type != "LabelEncoder" or not node.input or node.input[0] not in wanted:
            continue
        for attr in node.attribute:
            if attr.name == "keys_strings":
                keys = frozenset(k.decode("utf-8") for k in attr.strings)
                found[node.input[0]] = found.get(node.input[0], frozenset()) | keys
    missing = sorted(wanted - set(found))
    if missing:
        log.warning("no LabelEncoder vocabulary for %s: unknown values there cannot be flagged", missing)
    return {name: found[name] for name in contract.CATEGORICAL_FEATURES if name in found}


def _threshold(tags: Mapping[str, str], metadata: Mapping[str, str]) -> float:
    raw = tags.get("threshold", metadata.get("threshold"))
    if raw is None:
        raise ModelRefused("model has no decision threshold (tag or ONNX metadata 'threshold')")
    try:
        value = float(raw)
    except ValueError:
        raise ModelRefused(f"threshold {raw!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise ModelRefused(f"threshold {value} is outside (0, 1)")
    return value


def load_model_bytes(
    data: bytes,
    *,
    name: str,
    version: str,
    expected_sha256: str | None,
    tags: Mapping[str, str],
    settings: Settings,
    source: str,
    alias: str | None = CHAMPION,
) -> LoadedModel:
    """Verify and load model bytes. Raises ModelRefused with the reason."""
    digest = sha256_hex(data)
    if not expected_sha256:
        raise ModelRefused(f"{name} v{version} has no sha256 tag: refusing an unverifiable artifact")
    if digest != expected_sha256.lower():
        raise ModelRefused(
            f"{name} v{version}: sha256 mismatch (artifact {digest[:12]}…, expected {expected_sha256[:12]}…)"
        )
    try:
        session = new_session(data)
    except Exception as exc:  # ORT raises its own exception types for malformed graphs
        raise ModelRefused(f"{name} v{version}: ONNX Runtime cannot load the artifact: {exc}") from exc
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    check_contract(session, metadata, settings)
    model = LoadedModel(
        name=name,
        version=str(version),
        sha256=digest,
        threshold=_threshold(tags, metadata),
        metadata=metadata,
        tags=dict(tags),
        source=source,
        session=session,
        alias=alias,
        vocabularies=vocabularies_of(data),
    )
    smoke_test(model)
    return model


def smoke_test(model: LoadedModel) -> None:
    """Run a 2-row batch (all numbers missing, one unseen category) before anyone relies on it.

    It also warms the session up, so the first real request does not pay ORT's lazy allocations.
    """
    rows = 2
    feed: dict[str, np.ndarray] = {n: np.full(rows, np.nan, np.float32) for n in contract.NUMERIC_FEATURES}
    feed.update({n: np.array(["UA", "__unseen__"], dtype=object) for n in contract.CATEGORICAL_FEATURES})
    try:
        out = model.predict(feed)
    except Exception as exc:
        raise ModelRefused(f"{model.name} v{model.version} fails on missing values: {exc}") from exc
    if out.shape != (rows,) or not np.all((out >= 0.0) & (out <= 1.0)):
        raise ModelRefused(
            f"{model.name} v{model.version}: 'probability' must be (batch,) in [0, 1], got {out.shape} {out}"
        )


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

    # --- registry -------------------------------------------------------------------------------
    def _client(self) -> Any:
        # Both URIs, explicitly: nothing may depend on MLflow's process globals or environment.
        return registry_client(self.settings.mlflow_tracking_uri)

    def champion(self) -> RegistryVersion:
        """Resolve the champion alias. Raises NoChampion or RegistryUnavailable."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self._client().get_model_version_by_alias(self.name, CHAMPION)
        except MlflowException as exc:
            # MLflow answered "no such model" / "alias ... not found": reachable, nothing to serve.
            not_found = exc.error_code == "RESOURCE_DOES_NOT_EXIST" or (
                exc.error_code == "INVALID_PARAMETER_VALUE" and "not found" in exc.message
            )
            if not_found:
                raise NoChampion(f"no {CHAMPION!r} alias on registered model {self.name!r}: {exc.message}") from exc
            uri = self.settings.mlflow_tracking_uri
            raise RegistryUnavailable(f"MLflow at {uri}: {exc.message}") from exc
        except Exception as exc:  # connection errors, a broken store URI, ...
            raise RegistryUnavailable(f"MLflow at {self.settings.mlflow_tracking_uri}: {exc}") from exc
        return RegistryVersion(self.name, str(mv.version), dict(mv.tags or {}), alias=CHAMPION)

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
            previous = tags.get("previous_champion")
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
        write_text(json.dumps({"version": version}), self.root / LAST_CHAMPION_FILE)

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
        expected = rv.tags.get("sha256")
        local = self._read_local(rv.version)
        if local is not None and expected and local[1].get("sha256") == expected.lower():
            try:
                return load_model_bytes(
                    local[0],
                    name=rv.name,
                    version=rv.version,
                    expected_sha256=expected,
                    tags=rv.tags,
                    settings=self.settings,
                    source="registry",
                    alias=rv.alias,
                )
            except ModelRefused as exc:  # a tampered or truncated cache: fetch again
                log.warning("local copy of %s v%s failed verification (%s); downloading", rv.name, rv.version, exc)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=self.root))
        try:
            data = self._download(rv, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        model = load_model_bytes(
            data,
            name=rv.name,
            version=rv.version,
            expected_sha256=expected,
            tags=rv.tags,
            settings=self.settings,
            source="registry",
            alias=rv.alias,
        )
        self._write_local(model, data)
        return model

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
