"""The Feast store, configured from Settings in code (no feature_store.yaml to drift from them).

    from features.store import apply_repo, feature_store
    apply_repo(settings)                 # register entities, views, the feature service
    store = feature_store(settings)      # duckdb offline, SQLite or Redis online

Offline store: duckdb (the dask `file` store exploded and silently dropped rows on our joins,
see docs/design.md, stack facts), or PostgreSQL as a warehouse (settings.offline_store).
Online store: SQLite under settings.feast_dir, or Redis when
settings.online_store == "redis" (a Redis Cluster with settings.redis_type). Registry: one file
under settings.feast_dir.

`import feast` costs 6-10 s, so it happens inside functions, never at module import.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.online import PROJECT, REDIS_CLIENT_OPTIONS
from flightpath.atomic import write_text
from flightpath.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore, RepoConfig


def redis_connection_string(url: str) -> str:
    """Feast's Redis connection string ("host:port,key=value,...") with our client options
    added unless the URL already sets them."""
    present = {part.split("=", 1)[0].strip() for part in url.split(",")[1:]}
    extra = [f"{k}={v}" for k, v in REDIS_CLIENT_OPTIONS.items() if k not in present]
    return ",".join([url, *extra])


def store_config(settings: Settings, project: str = PROJECT, fail_fast: bool = False) -> dict[str, Any]:
    """The feature_store.yaml content, as a dict, derived from settings.

    Args:
        settings: paths and the online store choice.
        project: Feast project; a namespace in the registry and in Redis keys (tests use their own).
        fail_fast: add REDIS_CLIENT_OPTIONS (the serving read path); batch jobs such as
            materialization keep redis-py's patient defaults, where a big pipeline may take seconds.
    Returns:
        A dict RepoConfig accepts (and that `feast -c <feast_dir>` reads back from YAML).
    """
    if settings.online_store == "redis":
        url = redis_connection_string(settings.redis_url) if fail_fast else settings.redis_url
        online: dict[str, Any] = {"type": "redis", "connection_string": url, "redis_type": settings.redis_type}
    else:
        online = {"type": "sqlite", "path": str(settings.feast_dir.resolve() / "online.db")}
    return {
        "project": project,
        "provider": "local",
        "registry": {"path": str(settings.feast_dir.resolve() / "registry.db")},
        "offline_store": offline_config(settings),
        "online_store": online,
        "entity_key_serialization_version": 3,
    }


def offline_config(settings: Settings) -> dict[str, Any]:
    """The offline store's part of the config: duckdb, or Feast's PostgreSQL store from
    settings.offline_store_url (postgresql://user[:password]@host[:port]/database[?schema=..&sslmode=..])."""
    if settings.offline_store == "duckdb":
        return {"type": "duckdb"}
    from urllib.parse import parse_qs, unquote, urlsplit

    url = urlsplit(settings.offline_store_url)
    if url.scheme not in ("postgresql", "postgres") or not url.hostname or not url.path.strip("/"):
        raise ValueError(
            f"offline_store_url {settings.offline_store_url!r}: expected postgresql://user[:password]@host[:port]/db"
        )
    return {
        "type": "postgres",
        "host": url.hostname,
        "port": url.port or 5432,
        "database": url.path.strip("/"),
        "db_schema": parse_qs(url.query).get("schema", ["public"])[0],
        "user": unquote(url.username or "postgres"),
        "password": unquote(url.password or ""),
        # libpq's default; Feast's own is "require", which a local server without TLS refuses.
        "sslmode": parse_qs(url.query).get("sslmode", ["prefer"])[0],
    }


def repo_config(settings: Settings, project: str = PROJECT, fail_fast: bool = False) -> RepoConfig:
    from feast import RepoConfig

    return RepoConfig(repo_path=settings.feast_repo_dir, **store_config(settings, project, fail_fast))


def feature_store(settings: Settings, project: str = PROJECT, fail_fast: bool = False) -> FeatureStore:
    """A FeatureStore for these settings (cheap after the first `import feast`).

    Args:
        settings: paths and the online store choice.
        project: Feast project name.
        fail_fast: online reads give up quickly (see `store_config`).
    Returns:
        The store; nothing is read or written until it is used.
    """
    from feast import FeatureStore

    settings.feast_dir.mkdir(parents=True, exist_ok=True)
    config = repo_config(settings, project, fail_fast)
    return FeatureStore(repo_path=str(settings.feast_repo_dir), config=config)


log = logging.getLogger(__name__)


@contextlib.contextmanager
def registry_writer(settings: Settings) -> Iterator[None]:
    """Hold the registry's write lock: one writer at a time per registry file.

    Feast rewrites the registry file in place on `apply` and on every materialization (it records
    the interval). The daily DAG's `features` task for D and the `materialize` task for D-1, or the
    demo DAG beside them, can do that at the same moment, and the later write loses the earlier
    one's changes. An exclusive `flock` on a file beside the registry serializes every writer
    (`apply_repo`, `features.materialize`) across processes and Airflow tasks on one machine; a
    shared volume across machines needs a lock service instead (docs/design.md). Waits, and logs
    that it waits, as long as the holder takes.
    """
    settings.feast_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.feast_dir / "registry.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            started = time.perf_counter()
            log.info("waiting for another writer of the Feast registry to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
            log.info("registry lock acquired after %.1f s", time.perf_counter() - started)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def use_wal(path: Path) -> str:
    """Put the SQLite online store in write-ahead-log mode (persistent: it is stored in the file).

    Feast creates the file in SQLite's default rollback-journal mode, where a reader waits while
    materialization commits. In WAL mode readers never wait for the writer, so serving's reads stay
    sub-millisecond while the daily DAG materializes (tests/features/test_store.py holds a write
    lock and reads). Returns the journal mode now in force.
    """
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
    finally:
        conn.close()


def apply_repo(settings: Settings, project: str = PROJECT) -> dict[str, Any]:
    """Register the repo's objects and create the online tables; idempotent.

    Also writes settings.feast_dir/feature_store.yaml from the same dict, so the Feast CLI
    (`feast -c .flightpath/feast serve`, `feast ... feature-views list`) sees this exact store.

    Args:
        settings: paths, online store, feature service name.
        project: Feast project name.
    Returns:
        Names of what was applied per kind, plus the feature service version tag.
    """
    import yaml
    from feast import Entity, FeatureService, FeatureView

    from features import contract
    from features.feature_repo.definitions import feature_objects

    store = feature_store(settings, project)
    objects = feature_objects(settings)
    with registry_writer(settings):
        store.apply(objects)
    if settings.online_store == "sqlite":
        use_wal(settings.feast_dir.resolve() / "online.db")
    write_text(
        yaml.safe_dump(store_config(settings, project), sort_keys=False), settings.feast_dir / "feature_store.yaml"
    )
    return {
        "project": project,
        "entities": [o.name for o in objects if isinstance(o, Entity)],
        "feature_views": [o.name for o in objects if isinstance(o, FeatureView)],
        "feature_services": [o.name for o in objects if isinstance(o, FeatureService)],
        "feature_service_version": contract.feature_service_version(),
    }
