"""A faster serving read path: the online tables read directly, decoded the way Feast decodes them.

    reader = reader_for(settings)                      # same interface as OnlineFeatureReader
    [feats] = reader.read([{"origin": "JFK", "tailnum": "N619AA", "carrier": "AA"}])
    reader.ping()

`FeatureStore.get_online_features` spends most of a one-row read resolving feature views and
building protobuf responses in Python (docs/benchmarks.md: the store read itself is a small part).
This reader knows the views from the contract (features/contract.py: each view's join key and
features), checks once that the repo was applied (the registry names our feature service), and a
read is then one SQLite statement (or one Redis pipeline of HMGETs) plus decoding with our own
byte functions (features/online_encoding.py), which tests compare with Feast's own. It never
imports Feast, pandas or protobuf: a serving worker pays for none of them.
tests/features/test_fast_online.py checks it returns what OnlineFeatureReader (Feast) returns, and
that the contract's views are the registry's.

Like OnlineFeatureReader: an unknown key is a missing feature, an unreachable store or an
unapplied registry is `OnlineStoreUnavailable`, and the online store does not apply the views' TTL
(callers judge staleness by `event_timestamps`).
A failed resolution (registry not applied yet) is remembered: reads within RESOLVE_RETRY_S of it
raise OnlineStoreUnavailable with the same message without touching the registry, and the first
read after that tries again, so a service started before `feast apply` recovers by itself.
Assumes the registry does not change under a running reader once resolved (a new `feast apply`
that renames views needs a new reader, as it would a new serving process).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from features import contract
from features.online import (
    PROJECT,
    REDIS_CLIENT_OPTIONS,
    TIMESTAMP_SUFFIX,
    OnlineFeatures,
    OnlineStoreUnavailable,
    PingByReading,
    _connection_errors,
    entity_rows,
    parse_response,
)
from features.online_encoding import (
    decode_value,
    entity_key,
    redis_field,
    redis_timestamp_field,
    table_name,
    timestamp_seconds,
)
from flightpath.settings import Settings

# After a failed resolution, reads fail fast for this long before the registry is read again:
# in degraded mode every request would otherwise build a FeatureStore and read the registry just
# to fail again (tens of ms each, and one log line per request). Short, so that a `feast apply`
# run after the service started is picked up within seconds.
RESOLVE_RETRY_S = 5.0
# (event timestamp in whole UTC seconds, 0 = none; feature name -> serialized ValueProto)
_Row = tuple[int, dict[str, bytes]]


@dataclass(frozen=True)
class _View:
    """One feature view of the service, resolved once."""

    name: str
    join_key: str  # our views have exactly one join key each
    features: tuple[str, ...]  # requested features, in the service's order
    table: str  # SQLite online table
    hash_fields: tuple[bytes, ...]  # Redis: murmur3 field per feature, then the "_ts:<view>" field


@lru_cache(maxsize=16384)
def _entity_key(join_key: str, value: str) -> bytes:
    """Feast's serialized entity key for one string join key (cached: keys repeat across requests)."""
    return entity_key(join_key, value)


def contract_views(project: str) -> list[_View]:
    """The feature service's views as the contract defines them (the registry is checked to agree
    by tests/features/test_fast_online.py)."""
    views = []
    for view, names in contract.FEATURE_VIEWS.items():
        (join_key,) = contract.VIEW_JOIN_KEYS[view]
        fields = tuple(redis_field(view, n) for n in names) + (redis_timestamp_field(view),)
        views.append(
            _View(name=view, join_key=join_key, features=names, table=table_name(project, view), hash_fields=fields)
        )
    return views


def _resolve(settings: Settings, project: str) -> list[_View]:
    """The views, once the repo is applied: the registry file exists and names our feature service.

    Raises OnlineStoreUnavailable. A byte search, not a parse: the registry is Feast's protobuf, and
    reading it properly is what this module exists to avoid; a wrong view layout is caught by the
    tests against the registry, not here.
    """
    if not settings.online_registry_check:  # the registry is elsewhere (Settings): trust the contract
        return contract_views(project)
    path = settings.feast_dir / "registry.db"
    try:
        applied = settings.feature_service.encode() in path.read_bytes()
    except OSError as exc:
        applied, reason = False, str(exc)
    else:
        reason = f"no feature service {settings.feature_service!r} in it"
    if not applied:
        raise OnlineStoreUnavailable(
            f"feature service {settings.feature_service!r} is not in the registry at "
            f"{settings.feast_dir}: apply the feature repo first ({reason})"
        )
    return contract_views(project)


class _Reader(PingByReading, ABC):
    """Shared part: lazy one-time resolution, request -> Feast-shaped column dict -> OnlineFeatures."""

    def __init__(self, settings: Settings, project: str = PROJECT) -> None:
        self._settings = settings
        self._project = project
        self._views: list[_View] | None = None
        self._lock = threading.Lock()
        # The last failed resolution and when it happened (time.monotonic()); None once resolved.
        self._failure: OnlineStoreUnavailable | None = None
        self._failed_at = 0.0

    def _resolved(self) -> list[_View]:
        """The views, resolved on first use; raises OnlineStoreUnavailable (see RESOLVE_RETRY_S)."""
        views = self._views
        if views is not None:
            return views
        with self._lock:
            return self._views if self._views is not None else self._resolve_or_raise()

    def _resolve_or_raise(self) -> list[_View]:
        """Resolve now, unless the last attempt failed less than RESOLVE_RETRY_S ago. Holds the lock."""
        if self._failure is not None and time.monotonic() - self._failed_at < RESOLVE_RETRY_S:
            # A new exception each time: re-raising one shared instance from many threads would
            # grow (and mix up) its traceback. The message is the remembered one.
            raise OnlineStoreUnavailable(str(self._failure)) from self._failure
        try:
            views = _resolve(self._settings, self._project)
        except OnlineStoreUnavailable as exc:
            self._failure, self._failed_at = exc, time.monotonic()
            raise
        self._views = views
        self._failure = None
        return views

    @abstractmethod
    def _fetch(self, views: list[_View], rows: list[dict[str, str]]) -> dict[str, list[_Row]]:
        """Per view, per entity row: (event timestamp in whole UTC seconds, 0 if none;
        feature name -> serialized ValueProto). One implementation per store below."""

    def read(self, entities: list[dict[str, str | None]]) -> list[OnlineFeatures]:
        """Store features for each entity ({"origin", "tailnum", "carrier"}), in order.

        Raises:
            OnlineStoreUnavailable: the store cannot be reached (or the repo was never applied).
            ValueError: an entity lacks origin or carrier.
        """
        if not entities:
            return []
        rows = entity_rows(entities)
        views = self._resolved()
        try:
            fetched = self._fetch(views, rows)
        except _connection_errors() as exc:
            raise OnlineStoreUnavailable(f"{self._settings.online_store} online store unreachable: {exc}") from exc
        response: dict[str, list[Any]] = {}
        for view in views:
            per_row = fetched[view.name]
            for name in view.features:
                response[name] = [decode_value(values.get(name)) for _, values in per_row]
                # Feast reports whole seconds (Timestamp.seconds), 0 for a key it did not find.
                response[name + TIMESTAMP_SUFFIX] = [seconds for seconds, _ in per_row]
        return parse_response(response, len(rows))


class SqliteOnlineReader(_Reader):
    """Reads Feast's SQLite online tables directly (one read-only connection per thread)."""

    # A local file in WAL mode (features.store.use_wal): a read never waits for a writer, so
    # serving may call it on its event loop (serving/api/routes/predict.py).
    reads_locally = True

    def __init__(self, settings: Settings, project: str = PROJECT) -> None:
        super().__init__(settings, project)
        self._path = settings.feast_dir.resolve() / "online.db"
        self._local = threading.local()
        self._sql: dict[tuple[int, int], str] = {}

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # Read-only: a missing file is an error (unavailable), never an empty new database.
            conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=0.5)
            self._local.conn = conn
        return conn

    def _statement(self, views: list[_View], n_keys: int) -> str:
        key = (id(views), n_keys)
        sql = self._sql.get(key)
        if sql is None:
            marks = ",".join("?" * n_keys)
            sql = " UNION ALL ".join(
                f'SELECT {i}, entity_key, feature_name, value, event_ts FROM "{v.table}" WHERE entity_key IN ({marks})'
                for i, v in enumerate(views)
            )
            self._sql[key] = sql
        return sql

    def _fetch(self, views: list[_View], rows: list[dict[str, str]]) -> dict[str, list[_Row]]:
        # Distinct keys per view, so n entities with the same origin ask for it once.
        keys = [[_entity_key(v.join_key, row[v.join_key]) for row in rows] for v in views]
        width = max(len(set(k)) for k in keys)
        params: list[bytes] = []
        for view_keys in keys:
            distinct = list(dict.fromkeys(view_keys))
            params.extend(distinct + distinct[-1:] * (width - len(distinct)))  # pad: same statement
        found: list[dict[bytes, tuple[str | None, dict[str, bytes]]]] = [{} for _ in views]
        for i, key, feature, value, ts in self._conn().execute(self._statement(views, width), params):
            _, values = found[i].setdefault(key, (ts, {}))
            values[feature] = value
            found[i][key] = (ts, values)  # Feast keeps the last row's timestamp
        out = {}
        for view, view_keys, by_key in zip(views, keys, found, strict=True):
            out[view.name] = [
                (_sqlite_seconds(by_key[k][0]), by_key[k][1]) if k in by_key else (0, {}) for k in view_keys
            ]
        return out


def _sqlite_seconds(raw: Any) -> int:
    """Feast's stored event_ts -> the whole UTC seconds Feast reports.

    Feast writes the naive UTC time through its sqlite3 adapter `int(naive.timestamp())` (which
    reads the naive value as *local* time) and reads it back with `datetime.fromtimestamp(int)`
    (local again) and then labels it UTC; the two local-time steps cancel out. We do the same
    steps, so the result is Feast's even where they would not cancel (a DST gap on a non-UTC host).
    """
    if raw is None:
        return 0
    if isinstance(raw, bytes):
        raw = raw.decode()
    if isinstance(raw, str) and not raw.lstrip("-").isdigit():  # an ISO string (other adapters)
        stamp = dt.datetime.fromisoformat(raw)
    else:
        stamp = dt.datetime.fromtimestamp(int(raw))
    return int(stamp.replace(tzinfo=dt.UTC, microsecond=0).timestamp())


class RedisOnlineReader(_Reader):
    """Reads Feast's Redis hashes directly: one pipeline of HMGETs per request (fail-fast client)."""

    def __init__(self, settings: Settings, project: str = PROJECT) -> None:
        super().__init__(settings, project)
        self._client: Any = None
        self._project_bytes = project.encode()

    def _redis(self) -> Any:
        if self._client is None:
            self._client = _redis_client(self._settings.redis_url, cluster=self._settings.redis_type == "redis_cluster")
        return self._client

    def _fetch(self, views: list[_View], rows: list[dict[str, str]]) -> dict[str, list[_Row]]:
        with self._redis().pipeline(transaction=False) as pipe:
            for view in views:
                for row in rows:
                    pipe.hmget(
                        _entity_key(view.join_key, row[view.join_key]) + self._project_bytes, list(view.hash_fields)
                    )
            replies = pipe.execute()
        out: dict[str, list[_Row]] = {}
        it = iter(replies)
        for view in views:
            per_row = []
            for _ in rows:
                reply = next(it)
                values = {n: v for n, v in zip(view.features, reply[:-1], strict=True) if v}
                # Feast answers a missing key with epoch 0 and empty values: both become "missing".
                per_row.append((timestamp_seconds(reply[-1]), values))
            out[view.name] = per_row
        return out


def _redis_client(url: str, cluster: bool = False) -> Any:
    """redis-py client from Feast's connection string ("host:port[,host:port...],key=value,..."),
    failing fast like the Feast path (features.online.REDIS_CLIENT_OPTIONS: 0.5 s timeouts, no
    retries). With `cluster`, a RedisCluster that starts from the listed nodes: the pipeline of
    HMGETs is then split by hash slot and sent to each shard in parallel round trips."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    parts = [p.strip() for p in url.split(",")]
    nodes = [p.rpartition(":") for p in parts if "=" not in p]
    options = [p for p in parts if "=" in p]
    kwargs: dict[str, Any] = {}
    opts = {**REDIS_CLIENT_OPTIONS, **dict(o.split("=", 1) for o in options)}
    kwargs["socket_timeout"] = float(opts.pop("socket_timeout"))
    kwargs["socket_connect_timeout"] = float(opts.pop("socket_connect_timeout"))
    opts.pop("retry", None)
    kwargs["retry"] = Retry(NoBackoff(), 0)
    if "password" in opts:
        kwargs["password"] = opts.pop("password")
    if opts.pop("ssl", "false").lower() == "true":
        kwargs["ssl"] = True
    if cluster:
        from redis.cluster import ClusterNode, RedisCluster

        startup = [ClusterNode(host or "localhost", int(port or 6379)) for host, _, port in nodes]
        # A cluster has one database; a db=N option is meaningless there.
        return RedisCluster(startup_nodes=startup, **kwargs)
    host, _, port = nodes[0]
    kwargs.update(host=host or "localhost", port=int(port or 6379))
    if "db" in opts:
        kwargs["db"] = int(opts.pop("db"))
    return redis.Redis(**kwargs)


def reader_for(settings: Settings, project: str = PROJECT) -> SqliteOnlineReader | RedisOnlineReader:
    """The fast reader for settings.online_store ("sqlite" or "redis"); cheap to construct."""
    if settings.online_store == "redis":
        return RedisOnlineReader(settings, project)
    return SqliteOnlineReader(settings, project)
