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


def test_registry_writers_wait_for_each_other(feature_store_home: Settings, tmp_path: Path) -> None:
    """Feast rewrites the registry file in place on apply and on materialize: a second writer must
    wait for the first (here: this process holds the lock, a materialization in another process
    waits, then runs and records its interval once the lock is released)."""
    import subprocess
    import sys

    from features.store import apply_repo, registry_writer
    from tests.features.conftest import _copy_home, materialized_interval

    home = _copy_home(feature_store_home, tmp_path / "home")
    apply_repo(home)
    start, end = materialized_interval(home)
    script = (
        "import datetime as dt, sys\n"
        "from flightpath.settings import Settings\n"
        "from features.materialize import materialize\n"
        f"s = Settings(home={str(home.home)!r}, demo_start={home.demo_start.isoformat()!r}, "
        f"demo_end={home.demo_end.isoformat()!r})\n"
        f"start = dt.datetime.fromisoformat({start.isoformat()!r})\n"
        f"end = dt.datetime.fromisoformat({end.isoformat()!r})\n"
        "materialize(s, start, end)\n"
        "print('materialized')\n"
    )
    registry = home.feast_dir / "registry.db"
    with registry_writer(home):
        before = registry.read_bytes()
        writer = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(20)  # long enough to import Feast and reach the lock
        assert writer.poll() is None, writer.communicate()
        assert registry.read_bytes() == before  # nothing written while we hold it
    out, err = writer.communicate(timeout=180)
    assert writer.returncode == 0 and "materialized" in out, err[-2000:]
    assert registry.read_bytes() != before  # it wrote once it could
