"""The serving read path: store features for a batch of flights from the online store.

    reader = reader_for(settings)     # features/fast_online.py (Feast's own path: features/feast_online.py)
    [feats] = reader.read([{"origin": "JFK", "tailnum": "N619AA", "carrier": "AA"}])
    feats.values["wx_temp"], feats.missing, feats.event_timestamps["weather_at_origin"]

What both readers share lives here: the result type, the errors, request entities -> Feast entity
rows, Feast's column-wise answer -> results. Nothing here imports Feast or pandas.

The online store holds the latest materialized row per key; it does NOT apply the views' TTL
(Feast issue 6821), so `event_timestamps` is returned for the caller to judge staleness.
An unknown key (a tail number not in planes.csv) is a missing feature, never an error; an
unreachable store is `OnlineStoreUnavailable`, which serving turns into degraded mode.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from typing import Any

from features import contract
from features.keys import NO_TAILNUM

PROJECT = "flightpath"
# Fail fast, so serving answers in degraded mode instead of waiting: without timeouts a hung
# Redis hangs every request, and redis-py 7 retries a refused connection 3 times with
# exponential backoff (measured here: 3-8 s per failed read). Timeouts in seconds; `retry=null` reaches
# redis-py as retry=None, which means no retries. Values are JSON, as Feast parses them.
REDIS_CLIENT_OPTIONS = {"socket_timeout": "0.5", "socket_connect_timeout": "0.5", "retry": "null"}


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
        # A Redis Cluster with no reachable node, or with slots no live shard serves.
        redis.exceptions.RedisClusterException,
        redis.exceptions.ClusterDownError,
        sqlite3.OperationalError,
        sqlite3.DatabaseError,
        ConnectionError,
        TimeoutError,
        OSError,
    )


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
