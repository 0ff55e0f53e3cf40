"""The SQLite online store is in WAL mode, so serving's reads never wait for materialization."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from features.fast_online import SqliteOnlineReader
from features.online import PING_ENTITY
from flightpath.settings import Settings


def test_apply_puts_the_sqlite_online_store_in_wal_mode(feature_store_home: Settings) -> None:
    with sqlite3.connect(feature_store_home.feast_dir / "online.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_read_does_not_wait_for_a_writer_holding_the_store(feature_store_home: Settings, tmp_path: Path) -> None:
    # A copy: the exclusive lock below must not touch the session's store.
    settings = feature_store_home.model_copy(update={"home": tmp_path / "home"})
    shutil.copytree(feature_store_home.feast_dir, settings.feast_dir)
    reader = SqliteOnlineReader(settings)
    reader.read([PING_ENTITY])  # resolve the views first: only the read itself is timed below

    writer = sqlite3.connect(settings.feast_dir / "online.db", isolation_level=None, timeout=0)
    try:
        # EXCLUSIVE: in rollback-journal mode no reader gets in until COMMIT (it would wait its
        # 0.5 s busy timeout, then fail); in WAL mode readers go on reading the last commit.
        writer.execute("BEGIN EXCLUSIVE")
        started = time.perf_counter()
        (row,) = reader.read([PING_ENTITY])
        assert time.perf_counter() - started < 0.25
        assert set(row.values)  # an answer, not an error
    finally:
        writer.execute("ROLLBACK")
        writer.close()
