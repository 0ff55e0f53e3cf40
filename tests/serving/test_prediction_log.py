"""The prediction log: rows land, a full queue drops (and counts) instead of blocking, close flushes."""

from __future__ import annotations

import datetime as dt
import time

from serving.prediction_log import PredictionLog, PredictionRow, read_rows


def row(i: int) -> PredictionRow:
    return PredictionRow(
        request_id=f"r{i}",
        ts=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        model_version="3",
        inputs={"origin": "EWR"},
        features={"wx_temp": None, "sched_hour": 5.25},
        flags={"degraded": False, "missing": ["wx_temp"]},
        probability=0.25,
        latency_ms=0.8,
    )


def test_rows_are_written_in_the_background_and_flushed_on_close(tmp_path):
    url = f"sqlite:///{tmp_path / 'sub' / 'predictions.db'}"
    log = PredictionLog(url, flush_interval_s=10)  # long interval: only close() can flush in time
    log.start()
    for i in range(250):
        assert log.submit(row(i))
    log.close()
    rows = read_rows(url)
    assert [r["request_id"] for r in rows] == [f"r{i}" for i in range(250)]
    first = rows[0]
    assert first["features"] == {"wx_temp": None, "sched_hour": 5.25}
    assert first["flags"] == {"degraded": False, "missing": ["wx_temp"]}
    assert (first["model_version"], first["probability"], first["latency_ms"]) == ("3", 0.25, 0.8)


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path):
    drops: list[str] = []
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}", maxsize=3, on_drop=drops.append)
    # Writer not started: nothing drains the queue, so the 4th row has no room.
    started = time.perf_counter()
    accepted = [log.submit(row(i)) for i in range(5)]
    assert time.perf_counter() - started < 0.1
    assert accepted == [True, True, True, False, False]
    assert drops == ["queue_full", "queue_full"] and log.dropped == 2
    log.start()
    log.close()
    assert len(read_rows(log.url)) == 3


def test_a_failing_database_does_not_kill_the_writer(tmp_path):
    drops: list[str] = []
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}", flush_interval_s=0.05, on_drop=drops.append)
    log.start()
    log.submit(PredictionRow(**{**row(0).as_dict(), "inputs": {"bad": object()}}))  # not JSON
    deadline = time.monotonic() + 5
    while not drops and time.monotonic() < deadline:
        time.sleep(0.02)
    assert drops == ["write_error"]
    log.submit(row(1))
    log.close()
    assert [r["request_id"] for r in read_rows(log.url)] == ["r1"]


def test_creating_the_table_survives_losing_the_race_to_another_worker(tmp_path, monkeypatch):
    """Two workers: both check "no table", the other creates it first, our CREATE fails."""
    import sqlalchemy as sa

    from serving import prediction_log

    url = f"sqlite:///{tmp_path / 'p.db'}"
    real = prediction_log.metadata.create_all
    calls = []

    def lose_the_race(engine, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            real(engine)  # the other worker got there first...
            with engine.begin() as conn:  # ...and our own CREATE TABLE now fails
                conn.execute(sa.text("CREATE TABLE predictions (id INTEGER)"))
        return real(engine, *args, **kwargs)

    monkeypatch.setattr(prediction_log.metadata, "create_all", lose_the_race)
    log = PredictionLog(url)
    log.start()
    log.submit(row(0))
    log.close()
    assert len(calls) == 2
    assert [r["request_id"] for r in read_rows(url)] == ["r0"]


def test_the_writer_works_in_slices_with_a_rest_between_them(tmp_path, monkeypatch):
    """Short slices, not one long transaction: requests never wait behind the whole queue."""
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}", batch_size=50, pause_s=0.02, flush_interval_s=0.01)
    writes: list[tuple[float, int]] = []
    real_write = log._write

    def timed(batch):
        if batch:
            writes.append((time.monotonic(), len(batch)))
        real_write(batch)

    monkeypatch.setattr(log, "_write", timed)
    for i in range(120):  # queued before the writer starts: one drain finds all of them
        log.submit(row(i))
    log.start()
    deadline = time.monotonic() + 5
    while sum(n for _, n in writes) < 120 and time.monotonic() < deadline:
        time.sleep(0.01)
    log.close()
    assert [n for _, n in writes] == [50, 50, 20]
    gaps = [b - a for (a, _), (b, _) in zip(writes, writes[1:], strict=False)]
    assert all(gap >= 0.019 for gap in gaps), gaps
    assert len(read_rows(log.url)) == 120
