"""Assemble one model input row per flight: online store features + calendar + categoricals.

    reader.read(entities) -> [OnlineFeatures]   (features/online.py, Feast under the hood)
    calendar_features(sched_dep_local)          (features/request_time.py, shared with training)
    -> {name: value} for every name in contract.MODEL_INPUTS, NaN where a number is missing

Serving depends on the reader only through the `FeatureReader` protocol below, so tests inject a
fake and a different store (an HTTP feature server, a cache) can slot in without touching routes.
OnlineStoreUnavailable (and, logged as a bug, any other failure of the read) puts the request in
degraded mode (all store features missing, flagged), never a 500: a slow or dead feature store
must not take the prediction service down with it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from features import contract
from features.keys import entity_keys
from features.online import OnlineStoreUnavailable
from features.request_time import calendar_features
from flightpath.settings import Settings

log = logging.getLogger(__name__)


class OnlineRow(Protocol):
    """What serving needs from one online result (features.online.OnlineFeatures has more)."""

    @property
    def values(self) -> dict[str, float | None]: ...  # every name in contract.STORE_FEATURES

    @property
    def missing(self) -> list[str]: ...


class FeatureReader(Protocol):
    """The online store seam (features.online.OnlineFeatureReader implements it)."""

    def read(self, entities: list[dict[str, str | None]]) -> Sequence[OnlineRow]:
        """One row per entity dict (features.keys.entity_keys); raises OnlineStoreUnavailable."""
        ...

    def ping(self) -> bool: ...


def default_reader(settings: Settings) -> FeatureReader:
    """The direct online-store reader: same values as Feast's get_online_features, ~4x faster at p50
    (docs/benchmarks.md), and it reads the store Feast materialized with Feast's own key encoding."""
    from features.fast_online import reader_for

    return reader_for(settings)


@dataclass
class AssembledRow:
    """One flight's model inputs plus what is worth logging about how they were obtained."""

    inputs: dict[str, float | str]            # every name in contract.MODEL_INPUTS; NaN = missing
    missing: list[str] = field(default_factory=list)
    degraded: bool = False
    degraded_reason: str | None = None

    def features_json(self) -> dict[str, Any]:
        """JSON-safe copy for the prediction log (NaN -> null)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.inputs.items()}


def entity_of(flight: Any) -> dict[str, str | None]:
    """Every join key of a FlightRequest, spelled by the function the training set uses too."""
    return dict(entity_keys(flight.origin, flight.dest, flight.tailnum, flight.carrier, flight.sched_dep_local))


def _as_float(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def read_online(
    reader: FeatureReader, entities: list[dict[str, str | None]]
) -> tuple[list[dict[str, float]], list[list[str]], str | None]:
    """Store features per entity, the missing names per entity, and the degraded reason (or None)."""
    try:
        rows = list(reader.read(entities))
        if len(rows) != len(entities):
            raise RuntimeError(f"online reader returned {len(rows)} rows for {len(entities)} entities")
    except OnlineStoreUnavailable as exc:
        reason = "online_store_unavailable"
        log.warning("online store unavailable (%s); answering in degraded mode", exc)
    except Exception as exc:  # noqa: BLE001 - a reader bug also degrades (flagged, logged), never a 500
        reason = f"online_read_error:{type(exc).__name__}"
        log.exception("online feature read failed; answering in degraded mode")
    else:
        return _present(rows)
    nan_row = {name: math.nan for name in contract.STORE_FEATURES}
    return [dict(nan_row) for _ in entities], [list(contract.STORE_FEATURES) for _ in entities], reason


def _present(rows: Sequence[OnlineRow]) -> tuple[list[dict[str, float]], list[list[str]], None]:
    values, missing = [], []
    for row in rows:
        v = {name: _as_float(row.values.get(name)) for name in contract.STORE_FEATURES}
        # Trust the values over the reader's list: a None/NaN is missing whatever `missing` says.
        miss = [name for name in contract.STORE_FEATURES if math.isnan(v[name])]
        values.append(v)
        missing.append(miss)
    return values, missing, None


def assemble(
    flights: Sequence[Any], store_values: list[dict[str, float]], missing: list[list[str]],
    degraded_reason: str | None,
) -> list[AssembledRow]:
    """Join store features with request-time features for each flight (a FlightRequest)."""
    out = []
    for flight, values, miss in zip(flights, store_values, missing, strict=True):
        # Wall-clock local time: calendar features are defined on it (same as training).
        calendar = calendar_features(flight.sched_dep_local.replace(tzinfo=None))
        inputs: dict[str, float | str] = {**values, **calendar}
        inputs.update({"carrier": flight.carrier, "origin": flight.origin, "dest": flight.dest})
        out.append(
            AssembledRow(inputs=inputs, missing=list(miss), degraded=degraded_reason is not None,
                         degraded_reason=degraded_reason)
        )
    return out


def to_columns(rows: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Row dicts -> one 1-D array per model input, typed as the ONNX graph expects."""
    cols: dict[str, np.ndarray] = {}
    for name in contract.NUMERIC_FEATURES:
        cols[name] = np.array([_as_float(r[name]) for r in rows], dtype=np.float32)  # (batch,)
    for name in contract.CATEGORICAL_FEATURES:
        cols[name] = np.array([str(r[name]) for r in rows], dtype=object)  # (batch,)
    return cols
