"""The worker's side of the prediction log: one line per row, segments, and a spool that fails."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from serving import spool_format
from serving.prediction_spool import PredictionRow, PredictionSpool


def row(i: int, **changes: object) -> PredictionRow:
    fields: dict = dict(
        request_id=f"r{i}",
        ts=dt.datetime(2026, 1, 1, 5, 15, tzinfo=dt.UTC),
        model_version="3",
        inputs={"origin": "EWR", "name": "\ud800"},  # a lone surrogate passed validation once
        features={"wx_temp": None, "sched_hour": 5.25},
        flags={"degraded": False, "missing": ["wx_temp"]},
        probability=0.25,
        latency_ms=0.8,
        flight_day=dt.date(2013, 1, 1),
    )
    fields.update(changes)
    return PredictionRow(**fields)


def lines(spool_dir) -> list[dict]:
    out = []
    for segment in spool_format.segments(spool_dir):
        out += [spool_format.decode(line) for line in segment.read_bytes().splitlines()]
    return out


def test_each_row_is_one_line_on_disk_when_submit_returns(tmp_path):
    accepted: list[int] = []
    spool = PredictionSpool(tmp_path / "spool", on_accepted=lambda: accepted.append(1))
    spool.start()
    for i in range(3):
        assert spool.submit(row(i))
        # No flush, no close: the bytes are the kernel's once submit returns (a SIGKILL loses nothing).
        assert len(lines(tmp_path / "spool")) == i + 1
    got = lines(tmp_path / "spool")
    assert [r["request_id"] for r in got] == ["r0", "r1", "r2"]
    assert len({r["log_key"] for r in got}) == 3
    first = got[0]
    assert first["ts"] == dt.datetime(2026, 1, 1, 5, 15, tzinfo=dt.UTC) and first["flight_day"] == dt.date(2013, 1, 1)
    assert first["inputs"] == {"origin": "EWR", "name": "\ud800"} and first["features"]["wx_temp"] is None
    assert len(accepted) == 3
    spool.close()


def test_segments_rotate_and_only_the_current_one_is_held(tmp_path):
    spool = PredictionSpool(tmp_path, rotate_bytes=1)  # every row after the first starts a segment
    spool.start()
    for i in range(3):
        spool.submit(row(i))
    segments = spool_format.segments(tmp_path)
    assert len(segments) == 3
    assert [spool_format.is_closed(s) for s in segments] == [True, True, False]
    spool.close()
    assert spool_format.is_closed(segments[-1])


def test_an_unwritable_spool_holds_rows_in_memory_and_writes_them_when_it_recovers(tmp_path):
    spool_dir = tmp_path / "spool"
    drops: list[str] = []
    spool = PredictionSpool(spool_dir, rotate_bytes=1, retry_s=0, backlog_rows=3, on_drop=drops.append)
    spool.start()
    assert spool.submit(row(0))
    for segment in spool_format.segments(spool_dir):
        segment.unlink()
    spool_dir.rmdir()
    spool_dir.write_text("not a folder")  # every new segment now fails (root cannot be locked out by chmod)
    assert [spool.submit(row(i)) for i in (1, 2, 3, 4)] == [False] * 4
    health = spool.maintain()
    assert not health.ok and "File exists" in (health.detail or "")
    assert health.backlog_rows == 3 and drops == ["spool_unwritable"]
    assert health.as_dict()["ok"] is False

    spool_dir.unlink()  # space returns
    health = spool.maintain()
    assert health.ok and health.backlog_rows == 0 and health.detail is None
    assert spool.submit(row(5))
    assert [r["request_id"] for r in lines(spool_dir)] == ["r1", "r2", "r3", "r5"]  # in order
    spool.close()


def test_a_short_write_leaves_no_partial_line(tmp_path, monkeypatch):
    spool = PredictionSpool(tmp_path, retry_s=3600)
    spool.start()
    spool.submit(row(0))
    real_write = os.write

    def disk_full_mid_line(fd: int, data: bytes) -> int:
        return real_write(fd, data[: len(data) // 2])

    monkeypatch.setattr(os, "write", disk_full_mid_line)
    assert not spool.submit(row(1))
    monkeypatch.setattr(os, "write", real_write)
    (segment,) = spool_format.segments(tmp_path)
    assert segment.read_bytes().endswith(b"\n") and len(segment.read_bytes().splitlines()) == 1
    assert "No space left" in (spool.health.detail or "") and spool.health.backlog_rows == 1
    spool.close()


def test_a_full_spool_drops_new_rows_and_says_so(tmp_path):
    drops: list[str] = []
    spool = PredictionSpool(tmp_path, on_drop=drops.append)
    spool.start()
    spool_format.write_status(tmp_path, {"full": True, "unshipped_bytes": 10, "limit_bytes": 10})
    health = spool.maintain()
    assert health.full and health.as_dict()["ok"] is False and "bound" in health.as_dict()["detail"]
    assert not spool.submit(row(0)) and drops == ["spool_full"]
    spool_format.write_status(tmp_path, {"full": False})
    spool.maintain()
    assert spool.submit(row(1))
    spool.close()


def test_fsync_each_row_when_asked(tmp_path, monkeypatch):
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    spool = PredictionSpool(tmp_path, fsync_each=True)
    spool.start()
    spool.submit(row(0))
    spool.submit(row(1))
    assert len(synced) == 2
    spool.close()


@pytest.mark.parametrize("bad", [b"[1]\n", b'{"request_id": "x"}\n', b"{not json\n"])
def test_decode_refuses_a_line_that_is_not_a_row(bad):
    with pytest.raises(ValueError):
        spool_format.decode(bad)


def test_a_row_that_cannot_be_encoded_is_dropped_and_counted_never_raised(tmp_path):
    drops: list[str] = []
    spool = PredictionSpool(tmp_path, on_drop=drops.append)
    spool.start()
    assert not spool.submit(row(0, probability=float("nan")))  # JSON has no NaN: PostgreSQL would refuse it
    assert not spool.submit(row(1, inputs={"x": object()}))
    assert drops == ["unencodable", "unencodable"]
    assert spool.submit(row(2)) and [r["request_id"] for r in lines(tmp_path)] == ["r2"]
    spool.close()
