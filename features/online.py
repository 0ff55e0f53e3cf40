"""The serving read path: store features for a batch of flights from the online store.

    reader = OnlineFeatureReader(settings)            # cheap: Feast is imported on first read
    [feats] = reader.read([{"origin": "JFK", "tailnum": "N619AA", "carrier": "AA"}])
    feats.values["wx_temp"], feats.missing, feats.event_timestamps["weather_at_origin"]

The online store holds the latest materialized row per key; it does NOT apply the views' TTL
(Feast issue 6821), so `event_timestamps` is returned for the caller to judge staleness.
An unknown key (a tail number not in planes.csv) is a missing feature, never an error; an
unreachable store is `OnlineStoreUnavailable`, which serving turns into degraded mode.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

from features import contract
from features.keys import NO_TAILNUM
from features.store import PROJECT
from flightpath.settings import Settings

# Feast's suffix for a feature's event timestamp in OnlineResponse.to_dict(include_event_timestamps=True).
TIMESTAMP_SUFFIX = "__ts"


def join_keys() -> tuple[str, ...]:
    """Every join key the feature views need, once each, in contract order."""
    return tuple(dict.fromkeys(k for keys in contract.VIEW_JOIN_KEYS.values() for k in keys))


# Keys a request always carries (validated by serving); any other join key of the contract
# (e.g. composite keys such as route) must be present in the entity too, see `entity_rows`.
BASE_KEYS = ("origin", "tailnum", "carrier")
# Where a read's ping goes: any well-formed entity works, absent keys are answered as missing
# (the empty string is a key no row has).
PING_ENTITY: dict[str, str | None] = {
    "origin": "EWR",
    "tailnum": None,
    "carrier": "UA",
    **{k: "" for k in join_keys() if k not in BASE_KEYS},
}


class OnlineStoreUnavailable(RuntimeError):
    """The online store (or the registry describing it) cannot be reached right now."""


@dataclass(frozen=True)
class OnlineFeatures:
    """Store features of one flight as known at the last materialization."""

    values: dict[str, float | None]  # every name in contract.STORE_FEATURES; None = missing
    missing: list[str]  # names with no value, in contract order
    event_timestamps: dict[str, dt.datetime | None]  # per feature view: when the value was known (UTC)


def _connection_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "store unreachable" (not "bad request"): network and file errors."""
    import redis.exceptions

    return (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        sqlite3.OperationalError,
        sqlite3.DatabaseError,
        ConnectionError,
        TimeoutError,
        OSError,
    )


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    """Connection errors, plus a registry without our feature service (not applied yet)."""
    from feast.errors import FeastObjectNotFoundException

    return (FeastObjectNotFoundException, *_connection_errors())


def entity_rows(entities: list[dict[str, str | None]]) -> list[dict[str, str]]:
    """Request entities -> Feast entity rows (join keys only; None tail number -> NO_TAILNUM).

    Every join key of contract.VIEW_JOIN_KEYS beyond origin/tailnum/carrier (composite keys such
    as "route") is copied from the entity as a string; other entity fields are ignored.

    Raises:
        ValueError: if origin or carrier is missing (serving validates them before this), or
            another join key of the contract is absent from the entity.
    """
    extra = [k for k in join_keys() if k not in BASE_KEYS]
    rows = []
    for i, entity in enumerate(entities):
        if not entity.get("origin") or not entity.get("carrier"):
            raise ValueError(f"entity {i} needs origin and carrier, got {entity}")
        row = {
            "origin": str(entity["origin"]),
            "carrier": str(entity["carrier"]),
            "tailnum": str(entity.get("tailnum") or NO_TAILNUM),
        }
        for key in extra:
            if entity.get(key) is None:
                raise ValueError(
                    f"entity {i} needs join key {key!r} (features.keys.entity_keys builds it), got {entity}"
                )
            row[key] = str(entity[key])
        rows.append(row)
    return rows


def _timestamp(seconds: int) -> dt.datetime | None:
    # Feast reports 0 (the epoch) for a key it did not find.
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds > 0 else None


def parse_response(response: dict[str, list[Any]], n: int) -> list[OnlineFeatures]:
    """Feast's column-wise dict (with `__ts` columns) -> one OnlineFeatures per entity.

    Args:
        response: OnlineResponse.to_dict(include_event_timestamps=True).
        n: number of entities asked for.
    Returns:
        One OnlineFeatures per entity, in request order.
    """
    out = []
    for i in range(n):
        values: dict[str, float | None] = {}
        for name in contract.STORE_FEATURES:
            value = response[name][i]
            values[name] = None if value is None else float(value)
        stamps: dict[str, dt.datetime | None] = {}
        for view, names in contract.FEATURE_VIEWS.items():
            # All features of a view share its row's timestamp; take the first feature's.
            stamps[view] = _timestamp(int(response[names[0] + TIMESTAMP_SUFFIX][i] or 0))
        missing = [name for name in contract.STORE_FEATURES if values[name] is None]
        out.append(OnlineFeatures(values=values, missing=missing, event_timestamps=stamps))
    return out


class PingByReading:
    """`ping` for any reader: one read of a key no store has (cheap, and it exercises the real path)."""

    def read(self, entities: list[dict[str, str | None]]) -> list[OnlineFeatures]:
        raise TypeError(f"{type(self).__name__} must define read()")

    def ping(self) -> bool:
        """True if the store answers a read right now."""
        try:
            self.read([PING_ENTITY])
        except OnlineStoreUnavailable:
            return False
        return True


class OnlineFeatureReader(PingByReading):
    """Reads the feature service's features online; one instance per serving process."""

    def __init__(self, settings: Settings, project: str = PROJECT) -> None:
        self._settings = settings
        self._project = project
        self._store: Any = None
        self._service: Any = None
        self._lock = threading.Lock()

    def _open(self) -> tuple[Any, Any]:
        """The store and its feature service, resolved once (the registry read is the slow part)."""
        with self._lock:
            if self._store is None:
                from features.store import feature_store

                store = feature_store(self._settings, self._project, fail_fast=True)
                try:
                    self._service = store.get_feature_service(self._settings.feature_service)
                except _unavailable_errors() as exc:
                    raise OnlineStoreUnavailable(
                        f"feature service {self._settings.feature_service!r} is not in the registry at "
                        f"{self._settings.feast_dir}: apply the feature repo first ({exc})"
                    ) from exc
                self._store = store
        return self._store, self._service

    def read(self, entities: list[dict[str, str | None]]) -> list[OnlineFeatures]:
        """Store features for each entity ({"origin", "tailnum", "carrier"}), in order.

        Raises:
            OnlineStoreUnavailable: the store cannot be reached (e.g. Redis down).
            ValueError: an entity lacks origin or carrier.
        """
        if not entities:
            return []
        rows = entity_rows(entities)
        store, service = self._open()
        try:
            response = store.get_online_features(features=service, entity_rows=rows, full_feature_names=False)
        except _connection_errors() as exc:
            kind = self._settings.online_store
            raise OnlineStoreUnavailable(f"{kind} online store unreachable: {exc}") from exc
        return parse_response(response.to_dict(include_event_timestamps=True), len(rows))
