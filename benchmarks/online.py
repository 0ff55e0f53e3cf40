"""Materialization throughput and the online read path: Feast vs the fast reader vs a raw store read.

One month (January 2013) is ingested, its feature tables built and the repo applied in a
temporary home; then:

* materialization of the month into SQLite is timed (`features.materialize.materialize`), next to
  a floor measured in the same run: writing the same number of online cells (entity key, feature,
  serialized value, timestamp) into a fresh SQLite table of Feast's schema with one `executemany`
  upsert in one transaction;
* one flight's full feature vector is read ~2,000 times per path, the paths interleaved (each
  iteration runs every path once, in rotating order), over a fixed sample of real flights of the
  month's last day: Feast (`OnlineFeatureReader`, i.e. `get_online_features`), the fast reader
  (`features.fast_online`), and the raw floor (the same keys' rows fetched with one SQL statement,
  keys pre-serialized, nothing decoded).

With Redis on 127.0.0.1:6379 the same is done against Redis (own Feast project, torn down after);
the raw floor there is one pipeline of HMGETs of the same keys and fields.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flightpath import lake
from flightpath.settings import Settings, days_between

MONTH = (dt.date(2013, 1, 1), dt.date(2013, 1, 31))
READS = 2000
WARMUP = 100
SAMPLE_FLIGHTS = 50


def _entities(settings: Settings, day: dt.date) -> list[dict[str, str | None]]:
    """Request entities of SAMPLE_FLIGHTS real flights of `day`, with every join key the views need."""
    from features.online import BASE_KEYS, join_keys
    from flightpath import lake

    flights = pd.read_parquet(lake.partition_file(settings.lake_dir, "curated", "flights", day))
    sample = flights.dropna(subset=["tailnum"]).iloc[:: max(1, len(flights) // SAMPLE_FLIGHTS)][:SAMPLE_FLIGHTS]
    needs_keys_module = any(k not in BASE_KEYS for k in join_keys())
    out: list[dict[str, str | None]] = []
    for f in sample.itertuples():
        if needs_keys_module:
            from features.keys import entity_keys

            out.append(dict(entity_keys(f.origin, f.dest, f.tailnum, f.carrier, f.sched_dep_local.to_pydatetime())))
        else:
            out.append({"origin": f.origin, "tailnum": f.tailnum, "carrier": f.carrier})
    return out


def _percentiles(ns: list[int]) -> dict[str, float]:
    ms = np.asarray(ns, dtype=float) / 1e6
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean())}


def _interleaved(paths: dict[str, Any], entities: list[dict[str, str | None]]) -> dict[str, dict[str, float]]:
    names = list(paths)
    times: dict[str, list[int]] = {n: [] for n in names}
    for i in range(WARMUP + READS):
        entity = entities[i % len(entities)]
        for k in range(len(names)):
            name = names[(i + k) % len(names)]
            t0 = time.perf_counter_ns()
            paths[name](entity)
            elapsed = time.perf_counter_ns() - t0
            if i >= WARMUP:
                times[name].append(elapsed)
    floor = _percentiles(times[names[-1]])
    out = {}
    for n in names:
        p = _percentiles(times[n])
        p["p50_vs_floor"] = p["p50_ms"] / floor["p50_ms"]
        out[n] = p
    return out


def _sqlite_floor_write(cells: list[tuple[bytes, str, bytes, int]], path: Path) -> float:
    """Seconds to upsert `cells` into a fresh table of Feast's SQLite online schema, one transaction."""
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE t (entity_key BLOB, feature_name TEXT, value BLOB, value_text TEXT, "
        "vector_value BLOB, event_ts timestamp, created_ts timestamp, PRIMARY KEY(entity_key, feature_name))"
    )
    conn.execute("CREATE INDEX t_ek ON t (entity_key)")
    sql = (
        "INSERT INTO t (entity_key, feature_name, value, event_ts) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(entity_key, feature_name) DO UPDATE SET value = excluded.value, event_ts = excluded.event_ts"
    )
    t0 = time.perf_counter()
    with conn:
        conn.executemany(sql, cells)
    seconds = time.perf_counter() - t0
    conn.close()
    return seconds


def _online_cells(db: Path) -> tuple[int, int, list[tuple[bytes, str, bytes, int]]]:
    """(entities, cells, the cells) stored in a Feast SQLite online database."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        cells: list[tuple[bytes, str, bytes, int]] = []
        entities = 0
        for t in tables:
            rows = conn.execute(f'SELECT entity_key, feature_name, value, event_ts FROM "{t}"').fetchall()
            cells.extend(rows)
            entities += len({r[0] for r in rows})
    return entities, len(cells), cells


def _offline_rows(settings: Settings, start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Feature-table rows Feast scans for the interval (snapshot views: all their rows)."""
    from features.materialize import SNAPSHOT_VIEWS
    from features.tables import view_dir

    n = 0
    for d in sorted(lake.features_root(settings.lake_dir).iterdir()):
        frame = pd.concat([pd.read_parquet(p) for p in sorted(view_dir(settings.lake_dir, d.name).glob("*.parquet"))])
        if d.name in SNAPSHOT_VIEWS:
            n += len(frame)
        else:
            ts = frame["event_timestamp"]
            n += int(((ts >= start) & (ts <= end)).sum())
    return n


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def _read_paths(settings: Settings, project: str) -> tuple[dict[str, Any], Any, Any]:
    from features.fast_online import _entity_key, reader_for
    from features.feast_online import OnlineFeatureReader
    from features.online import entity_rows

    feast_reader = OnlineFeatureReader(settings, project)
    fast = reader_for(settings, project)
    views = fast._resolved()

    if settings.online_store == "sqlite":
        conn = sqlite3.connect(f"file:{settings.feast_dir.resolve() / 'online.db'}?mode=ro", uri=True)
        sql = " UNION ALL ".join(
            f'SELECT entity_key, feature_name, value, event_ts FROM "{v.table}" WHERE entity_key = ?' for v in views
        )

        def raw(entity: dict[str, str | None]) -> Any:
            row = entity_rows([entity])[0]
            return conn.execute(sql, [_entity_key(v.join_key, row[v.join_key]) for v in views]).fetchall()
    else:
        from features.fast_online import _redis_client

        client = _redis_client(settings.redis_url)
        suffix = project.encode()

        def raw(entity: dict[str, str | None]) -> Any:
            row = entity_rows([entity])[0]
            with client.pipeline(transaction=False) as pipe:
                for v in views:
                    pipe.hmget(_entity_key(v.join_key, row[v.join_key]) + suffix, list(v.hash_fields))
                return pipe.execute()

    paths = {
        "Feast get_online_features (OnlineFeatureReader)": lambda e: feast_reader.read([e]),
        "fast reader (features.fast_online)": lambda e: fast.read([e]),
        "raw store read (floor)": raw,
    }
    return paths, feast_reader, fast


def _redis_footprint(url: str, project: str, cells: int) -> dict[str, float]:
    """Memory Redis itself reports for the project's keys (one hash per entity key, suffixed with
    the project's name): what sizing a Redis online store for many more entities starts from."""
    from features.fast_online import _redis_client

    client = _redis_client(url)
    suffix = project.encode()
    keys = [k for k in client.scan_iter(count=1000) if k.endswith(suffix)]
    total = sum(int(client.memory_usage(k, samples=0) or 0) for k in keys)
    return {"keys": len(keys), "bytes": total, "bytes_per_key": total / len(keys), "bytes_per_cell": total / cells}


def run() -> dict[str, Any]:
    from features.materialize import materialize
    from features.store import apply_repo, feature_store
    from features.tables import build_feature_tables, local_midnight_utc
    from pipelines.ingest.run import ingest_day, ingest_dimensions

    result: dict[str, Any] = {"month": [MONTH[0].isoformat(), MONTH[1].isoformat()]}
    with tempfile.TemporaryDirectory(prefix="fp-online-bench-") as tmp:
        settings = Settings(home=Path(tmp) / "home")
        days = days_between(*MONTH)
        ingest_dimensions(settings)
        for d in days:
            ingest_day(settings, d)
        build_feature_tables(settings, days)
        apply_repo(settings)
        start, end = local_midnight_utc(MONTH[0]), local_midnight_utc(MONTH[1] + dt.timedelta(days=1))

        t0 = time.perf_counter()
        materialize(settings, start.to_pydatetime(), end.to_pydatetime())
        mat_s = time.perf_counter() - t0
        offline_rows = _offline_rows(settings, start, end)
        n_entities, n_cells, cells = _online_cells(settings.feast_dir / "online.db")
        floor_s = _sqlite_floor_write(cells, Path(tmp) / "floor.db")
        result["materialize_sqlite"] = {
            "seconds": mat_s,
            "offline_rows": offline_rows,
            "online_entities": n_entities,
            "online_cells": n_cells,
            "offline_rows_per_s": offline_rows / mat_s,
            "cells_per_s": n_cells / mat_s,
            "floor_seconds": floor_s,
            "floor_cells_per_s": n_cells / floor_s,
            "over_floor": mat_s / floor_s,
        }

        entities = _entities(settings, MONTH[1])
        paths, feast_reader, fast = _read_paths(settings, "flightpath")
        assert fast.read(entities) == feast_reader.read(entities), "fast reader disagrees with Feast"
        result["read_sqlite"] = _interleaved(paths, entities)
        result["sample_flights"] = len(entities)

        if _redis_up():
            rhome = Path(tmp) / "redis"
            rsettings = settings.model_copy(
                update={"home": rhome, "online_store": "redis", "redis_url": "127.0.0.1:6379"}
            )
            shutil.copytree(lake.features_root(settings.lake_dir), lake.features_root(rsettings.lake_dir))
            project = f"fpbench_{uuid.uuid4().hex[:10]}"
            apply_repo(rsettings, project)
            try:
                t0 = time.perf_counter()
                materialize(rsettings, start.to_pydatetime(), end.to_pydatetime(), project)
                rmat_s = time.perf_counter() - t0
                result["materialize_redis"] = {
                    "seconds": rmat_s,
                    "offline_rows": offline_rows,
                    "online_cells": n_cells,
                    "offline_rows_per_s": offline_rows / rmat_s,
                    "cells_per_s": n_cells / rmat_s,
                    **_redis_footprint(rsettings.redis_url, project, n_cells),
                }
                rpaths, rfeast, rfast = _read_paths(rsettings, project)
                assert rfast.read(entities) == rfeast.read(entities), "fast Redis reader disagrees with Feast"
                result["read_redis"] = _interleaved(rpaths, entities)
            finally:
                feature_store(rsettings, project).teardown()
    return result
