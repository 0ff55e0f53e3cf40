"""The log shipper: loads the spool once, deletes only what is committed, keeps what it cannot load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from test_prediction_spool import row

from flightpath.prediction_table import read_rows
from flightpath.settings import Settings
from serving import spool_format
from serving.log_shipper import LogShipper
from serving.prediction_spool import PredictionSpool

ROOT = Path(__file__).resolve().parents[2]


def settings(tmp_path: Path, **changes: object) -> Settings:
    return Settings(home=tmp_path / "home", **changes)


def spooled(s: Settings, n: int, **kwargs: object) -> PredictionSpool:
    spool = PredictionSpool(s.spool_dir, **kwargs)
    spool.start()
    for i in range(n):
        assert spool.submit(row(i))
    return spool


def test_rows_are_loaded_and_a_closed_segment_deleted_once_committed(tmp_path):
    s = settings(tmp_path)
    spool = spooled(s, 3, rotate_bytes=1)  # three segments; the last one still held by its writer
    status = LogShipper(s, batch_rows=2).ship_once()
    rows = read_rows(s.prediction_log_url)
    assert [r["request_id"] for r in rows] == ["r0", "r1", "r2"]
    assert rows[0]["features"] == {"wx_temp": None, "sched_hour": 5.25} and rows[0]["inputs"]["name"] == "\ud800"
    assert len(spool_format.segments(s.spool_dir)) == 1  # the held one stays
    assert status["shipped_rows"] == 3 and status["unshipped_bytes"] == 0 and status["database"]["ok"] is True
    assert spool_format.read_status(s.spool_dir)["shipped_rows"] == 3
    spool.close()


def test_lines_appended_later_are_loaded_once(tmp_path):
    s = settings(tmp_path)
    spool = spooled(s, 2)
    shipper = LogShipper(s)
    shipper.ship_once()
    spool.submit(row(2))
    shipper.ship_once()
    shipper.ship_once()
    assert [r["request_id"] for r in read_rows(s.prediction_log_url)] == ["r0", "r1", "r2"]
    spool.close()
    shipper.ship_once()
    assert spool_format.segments(s.spool_dir) == []


def test_a_shipper_restarted_after_committing_does_not_store_twice(tmp_path):
    """Killed between commit and delete: the next shipper (offsets lost) loads the same lines again."""
    s = settings(tmp_path)
    spool = spooled(s, 4)
    LogShipper(s).ship_once()
    status = LogShipper(s).ship_once()
    assert status["shipped_rows"] == 0 and status["duplicate_rows"] == 4
    assert len(read_rows(s.prediction_log_url)) == 4
    spool.close()


def test_a_database_away_keeps_every_row_in_the_spool_until_it_is_back(tmp_path):
    s = settings(tmp_path)
    spool = spooled(s, 3, rotate_bytes=1)
    spool.close()
    db = s.home / "predictions.db"
    db.mkdir(parents=True)  # a folder where the database file should be: every connect fails
    shipper = LogShipper(s)
    status = shipper.ship_once()
    assert status["database"]["ok"] is False and status["unshipped_bytes"] > 0 and status["lag_s"] > 0
    assert len(spool_format.segments(s.spool_dir)) == 3
    db.rmdir()
    shipper.retry_at = 0  # skip the back-off
    status = shipper.ship_once()
    assert status["database"]["ok"] is True and status["unshipped_bytes"] == 0
    assert [r["request_id"] for r in read_rows(s.prediction_log_url)] == ["r0", "r1", "r2"]
    assert spool_format.segments(s.spool_dir) == []


def appended(s: Settings, raw: bytes) -> tuple[PredictionSpool, Path]:
    """A spool with one row, then `raw` written behind it into the same segment."""
    spool = spooled(s, 1)
    (segment,) = spool_format.segments(s.spool_dir)
    with segment.open("ab") as f:
        f.write(raw)
    return spool, segment


def test_a_bad_line_is_kept_aside_and_the_rest_loaded(tmp_path):
    s = settings(tmp_path)
    spool, segment = appended(s, b'{"request_id": "half a row"}\n')
    spool.submit(row(1))
    spool.close()
    status = LogShipper(s).ship_once()
    assert [r["request_id"] for r in read_rows(s.prediction_log_url)] == ["r0", "r1"]
    assert status["rejected_lines"] == 1
    kept = (s.spool_dir / spool_format.REJECTED_DIR / segment.name).read_bytes()
    assert kept == b'{"request_id": "half a row"}\n'
    assert spool_format.segments(s.spool_dir) == []


def test_a_partial_last_line_waits_while_written_and_is_kept_aside_once_its_writer_is_gone(tmp_path):
    s = settings(tmp_path)
    spool, segment = appended(s, b'{"request_id": "r1", "ts"')  # mid-write
    shipper = LogShipper(s)
    shipper.ship_once()
    assert segment.exists() and len(read_rows(s.prediction_log_url)) == 1
    spool._fd and os.close(spool._fd)  # the writer dies without finishing the line
    spool._fd = None
    status = shipper.ship_once()
    assert not segment.exists() and status["rejected_lines"] == 1


def test_the_spool_is_reported_full_at_its_bound(tmp_path):
    s = settings(tmp_path, prediction_spool_max_mb=1)
    spool = PredictionSpool(s.spool_dir)
    spool.start()
    big = row(0, inputs={"pad": "x" * 600_000})
    spool.submit(big)
    spool.submit(big)
    (s.home / "predictions.db").mkdir(parents=True)  # the database is away: nothing drains
    status = LogShipper(s).ship_once()
    assert status["full"] is True and status["unshipped_bytes"] >= 2**20
    assert spool.maintain().full
    spool.close()


WRITER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[2])
    from pathlib import Path
    from test_prediction_spool import row
    from serving.prediction_spool import PredictionSpool
    spool = PredictionSpool(Path(sys.argv[1]))
    spool.start()
    for i in range(50):
        spool.submit(row(i))
    print("spooled", flush=True)
    time.sleep(60)
    """
)


def test_rows_of_a_worker_killed_with_sigkill_are_all_loaded(tmp_path):
    """The page cache keeps what write() returned for; the kernel drops the dead writer's lock."""
    s = settings(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(s.spool_dir), str(Path(__file__).parent)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout.readline() == b"spooled\n"
        (segment,) = spool_format.segments(s.spool_dir)
        assert not spool_format.is_closed(segment)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    LogShipper(s).ship_once()
    assert [r["request_id"] for r in read_rows(s.prediction_log_url)] == [f"r{i}" for i in range(50)]
    assert spool_format.segments(s.spool_dir) == []


def test_the_table_exists_after_the_first_pass_even_without_rows(tmp_path):
    import sqlalchemy as sa

    s = settings(tmp_path)
    status = LogShipper(s).ship_once()
    assert status["database"]["ok"] is True
    engine = sa.create_engine(s.prediction_log_url)
    assert sa.inspect(engine).has_table("predictions")
    engine.dispose()


def test_every_segment_is_fsynced_and_a_closed_one_only_once(tmp_path, monkeypatch):
    """The interval policy: rotated segments waiting for the database are on disk too."""
    s = settings(tmp_path)
    spool = spooled(s, 3, rotate_bytes=1)  # two closed segments, one held
    (s.home / "predictions.db").mkdir(parents=True)  # the database is away: nothing is deleted
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    shipper = LogShipper(s)
    shipper.ship_once()
    assert len(synced) == 3
    shipper.ship_once()
    assert len(synced) == 4  # only the held one again
    spool.close()
