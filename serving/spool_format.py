"""The prediction spool on disk: the contract between the workers that append and the shipper that loads.

    <spool_dir>/
        <writer>.<n>.spool   a segment: JSON lines, one write() per row, by one worker process
        status.json          what the shipper last saw (workers read it: metrics, /readyz, the bound)
        rejected/            lines the shipper could not load, kept for a person (never deleted)

`<writer>` is `<start time ns>-<pid>-<random>`, so names sort by age and never repeat across
restarts or pods. A row's key is `<writer>:<seq>`: unique for ever, and the table's `log_key`,
so a line loaded twice (the shipper died between commit and delete) is stored once.

A writer holds an exclusive `flock` on the segment it appends to. A segment nobody holds is closed:
its writer moved on to the next one, or died (the kernel drops the lock of a dead process, whatever
killed it). The shipper deletes a segment only when it is closed and every line of it is committed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

SEGMENT_SUFFIX = ".spool"
STATUS_FILE = "status.json"
REJECTED_DIR = "rejected"
KEY_FIELD = "log_key"


def new_writer_id() -> str:
    return f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"


def segment_name(writer: str, n: int) -> str:
    return f"{writer}.{n:06d}{SEGMENT_SUFFIX}"


def segments(spool_dir: Path) -> list[Path]:
    """Every segment, oldest first."""
    try:
        return sorted(p for p in spool_dir.iterdir() if p.name.endswith(SEGMENT_SUFFIX))
    except FileNotFoundError:
        return []


def encode(row: dict[str, Any], key: str) -> bytes:
    """One spool line. ensure_ascii (the default) keeps any string encodable, lone surrogates included."""
    record = {**row, KEY_FIELD: key}
    record["ts"] = row["ts"].isoformat()
    if row.get("flight_day") is not None:
        record["flight_day"] = row["flight_day"].isoformat()
    return json.dumps(record, separators=(",", ":"), allow_nan=False).encode() + b"\n"


REQUIRED = ("log_key", "request_id", "ts", "model_version", "inputs", "features", "flags", "probability", "latency_ms")


def decode(line: bytes) -> dict[str, Any]:
    """A table row from one line; ValueError (with the reason) for a line that is not one."""
    record = json.loads(line)
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    missing = [f for f in REQUIRED if f not in record]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    record["ts"] = dt.datetime.fromisoformat(record["ts"])
    day = record.get("flight_day")
    record["flight_day"] = dt.date.fromisoformat(day) if day is not None else None
    return {k: record[k] for k in (*REQUIRED, "flight_day")}


def is_closed(path: Path) -> bool:
    """True when no process holds the segment's lock (its writer rotated away or is dead)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops the lock we may have taken
    return True


def write_status(spool_dir: Path, status: dict[str, Any]) -> None:
    """Atomically (write, then rename): a worker never reads half a status."""
    tmp = spool_dir / f".{STATUS_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(status, default=str), encoding="utf-8")
    os.replace(tmp, spool_dir / STATUS_FILE)


def read_status(spool_dir: Path) -> dict[str, Any] | None:
    with contextlib.suppress(OSError, ValueError):
        status = json.loads((spool_dir / STATUS_FILE).read_text(encoding="utf-8"))
        if isinstance(status, dict):
            return status
    return None
