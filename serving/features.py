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

import datetime as dt
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
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

    # Optional: per feature view, when its value was known (UTC); None = key not found. A reader
    # without it (a cache, a fake) simply reports no freshness.
    # event_timestamps: dict[str, dt.datetime | None]


class FeatureReader(Protocol):
    """The online store seam (features.fast_online's readers implement it)."""

    def read(self, entities: list[dict[str, str | None]]) -> Sequence[OnlineRow]:
        """One row per entity dict (features.keys.entity_keys); raises OnlineStoreUnavailable."""
        ...

    def ping(self) -> bool: ...

    # Optional: `reads_locally = True` says a read is a short local operation that never waits on
    # a network or a lock (features.fast_online.SqliteOnlineReader); /v1/predict then skips the
    # thread pool. Absent = False.


def default_reader(settings: Settings) -> FeatureReader:
    """The direct online-store reader: same values as Feast's get_online_features, ~4x faster at p50
    (docs/benchmarks.md), and it reads the store Feast materialized with Feast's own key encoding."""
    from features.fast_online import reader_for

    return reader_for(settings)


@dataclass
class AssembledRow:
    """One flight's model inputs plus what is worth logging about how they were obtained."""

    inputs: dict[str, float | str]  # every name in contract.MODEL_INPUTS; NaN = missing
    missing: list[str] = field(default_factory=list)
    degraded: bool = False
    degraded_reason: str | None = None
    stale_views: list[str] = field(default_factory=list)  # views whose value is older than their TTL

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


Stamps = dict[str, dt.datetime | None]  # feature view -> event timestamp of its value (UTC)


@dataclass
class OnlineRead:
    """What one online read produced for a batch of entities."""

    values: list[dict[str, float]]  # per entity: every store feature, NaN = missing
    missing: list[list[str]]  # per entity: names without a value
    stamps: list[Stamps]  # per entity (empty when the reader has none)
    degraded_reason: str | None = None
    seconds: float = 0.0  # wall time of reader.read


def read_online(reader: FeatureReader, entities: list[dict[str, str | None]]) -> OnlineRead:
    """Store features per entity, or all-missing with the degraded reason when the read fails."""
    started = time.perf_counter()
    try:
        rows = list(reader.read(entities))
        if len(rows) != len(entities):
            raise RuntimeError(f"online reader returned {len(rows)} rows for {len(entities)} entities")
    except OnlineStoreUnavailable as exc:
        reason = "online_store_unavailable"
        log.warning("online store unavailable (%s); answering in degraded mode", exc)
    except Exception as exc:  # a reader bug also degrades (flagged, logged), never a 500
        reason = f"online_read_error:{type(exc).__name__}"
        log.exception("online feature read failed; answering in degraded mode")
    else:
        out = _present(rows)
        out.seconds = time.perf_counter() - started
        return out
    nan_row = {name: math.nan for name in contract.STORE_FEATURES}
    return OnlineRead(
        values=[dict(nan_row) for _ in entities],
        missing=[list(contract.STORE_FEATURES) for _ in entities],
        stamps=[{} for _ in entities],
        degraded_reason=reason,
        seconds=time.perf_counter() - started,
    )


def _present(rows: Sequence[OnlineRow]) -> OnlineRead:
    values, missing, stamps = [], [], []
    for row in rows:
        v = {name: _as_float(row.values.get(name)) for name in contract.STORE_FEATURES}
        # Trust the values over the reader's list: a None/NaN is missing whatever `missing` says.
        miss = [name for name in contract.STORE_FEATURES if math.isnan(v[name])]
        values.append(v)
        missing.append(miss)
        stamps.append(dict(getattr(row, "event_timestamps", None) or {}))
    return OnlineRead(values=values, missing=missing, stamps=stamps)


@lru_cache(maxsize=1)
def view_ttls() -> dict[str, dt.timedelta]:
    """Each feature view's TTL as declared in the feature repo (0 = never expires).

    The online store does not apply TTLs (Feast issue 6821), so serving judges staleness itself.
    """
    return dict(contract.VIEW_TTL)


def stale_views(stamps: Mapping[str, dt.datetime | None], as_of: dt.datetime) -> list[str]:
    """Views whose value is older than their TTL at `as_of` (the moment the prediction is made).

    In the 2013 replay the wall clock is useless, so `as_of` is the request's own prediction time:
    scheduled departure minus the horizon. A view with no value (None) is missing, not stale.
    """
    ttls = view_ttls()
    out = []
    for view, stamp in stamps.items():
        ttl = ttls.get(view)
        if stamp is not None and ttl and as_of - stamp > ttl:
            out.append(view)
    return out


def assemble(flights: Sequence[Any], read: OnlineRead, horizon: dt.timedelta) -> list[AssembledRow]:
    """Join store features with request-time features for each flight (a FlightRequest)."""
    out = []
    stamps = read.stamps or [{} for _ in flights]
    for flight, values, miss, stamp in zip(flights, read.values, read.missing, stamps, strict=True):
        # Wall-clock local time: calendar features are defined on it (same as training).
        calendar = calendar_features(flight.sched_dep_local.replace(tzinfo=None))
        inputs: dict[str, float | str] = {**values, **calendar}
        inputs.update({"carrier": flight.carrier, "origin": flight.origin, "dest": flight.dest})
        as_of = flight.sched_dep_local.astimezone(dt.UTC) - horizon
        out.append(
            AssembledRow(
                inputs=inputs,
                missing=list(miss),
                degraded=read.degraded_reason is not None,
                degraded_reason=read.degraded_reason,
                stale_views=stale_views(stamp, as_of) if stamp else [],
            )
        )
    return out


def to_columns(rows: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Row dicts -> one 1-D array per model input, typed as the ONNX graph expects."""
    # One float32 array for every number, (n_numeric, batch), then a contiguous row view per input:
    # one numpy call instead of one per feature, which was ~15% of a /v1/score request (make bench).
    numbers = np.array(
        [_as_float(r[name]) for name in contract.NUMERIC_FEATURES for r in rows], dtype=np.float32
    ).reshape(len(contract.NUMERIC_FEATURES), len(rows))
    cols: dict[str, np.ndarray] = dict(zip(contract.NUMERIC_FEATURES, numbers, strict=True))  # each (batch,)
    for name in contract.CATEGORICAL_FEATURES:
        cols[name] = np.array([str(r[name]) for r in rows], dtype=object)  # (batch,)
    return cols
