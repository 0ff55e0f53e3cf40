"""A verified model artifact, loaded: one ONNX Runtime session and what serving needs to know about it.

    model = load_model_bytes(data, name=..., version=..., expected_sha256=tags["sha256"], ...)
    model.predict({"wx_temp": np.array([31.0], np.float32), ..., "origin": np.array(["EWR"])})

Everything here works from bytes and tags: no registry, no files. Where the bytes come from (MLflow,
the local cache) is serving/model_store.py. Nothing here unpickles: an ONNX file is a protobuf.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort

from features import contract
from flightpath.artifact import CHAMPION, OUTPUT_NAME, TAG_THRESHOLD, new_session, sha256_hex
from flightpath.settings import Settings
from flightpath.signing import SignatureError, verify_version

log = logging.getLogger(__name__)

_NUMERIC_TYPE = "tensor(float)"
_STRING_TYPE = "tensor(string)"


class ModelStoreError(RuntimeError):
    """Base class: no usable model could be produced."""


class ModelRefused(ModelStoreError):
    """The artifact exists but must not be served (checksum, input contract, feature service)."""


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
        (probability,) = self.session.run([OUTPUT_NAME], feed)
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
    if OUTPUT_NAME not in outputs:
        raise ModelRefused(f"model has no {OUTPUT_NAME!r} output (outputs: {outputs})")

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
    raw = tags.get(TAG_THRESHOLD, metadata.get("threshold"))
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
    try:  # before ONNX Runtime parses a byte: an unsigned graph is untrusted input
        verify_version(settings, name, str(version), digest, dict(tags))
    except SignatureError as exc:
        raise ModelRefused(str(exc)) from exc
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
