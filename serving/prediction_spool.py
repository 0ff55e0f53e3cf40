"""The prediction log, worker side: each answered prediction is appended to a local spool file.

    spool = PredictionSpool(settings.spool_dir)
    spool.start()
    spool.submit(PredictionRow(...))   # one write() before the answer leaves; never a database call
    spool.maintain()                   # every second, off the request path: retry, read the shipper's status
    spool.close()

The log shipper (serving/log_shipper.py, its own process) loads the spool into the database.

What an answered request's row survives (the fsync policy, `prediction_spool_fsync`):
- "interval" (default): the row is in the kernel's page cache when the answer is sent, so a worker
  killed by SIGKILL or the OOM killer loses nothing; the shipper fsyncs every segment each time it
  looks (`prediction_ship_interval_s`), so a machine crash or power cut loses at most that window.
- "always": the worker fsyncs each row before answering; a machine crash loses nothing answered,
  each request pays a disk flush (measured in serving/NOTES.md).

When the spool cannot take a row (disk full, folder unwritable) the row waits in memory (at most
`backlog_rows`, then dropped and counted), the worker says so (`/readyz` body, metrics) and keeps
answering; every second it tries a fresh segment and, once one takes writes, writes the backlog first.
When the shipper reports the spool at its bound (the database has been away for long), new rows
are dropped and counted: the answers go on, the disk does not fill.
"""

from __future__ import annotations

import collections
import datetime as dt
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving import spool_format

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictionRow:
    request_id: str
    ts: dt.datetime
    model_version: str
    inputs: dict[str, Any]
    features: dict[str, Any]
    flags: dict[str, Any]
    probability: float
    latency_ms: float
    flight_day: dt.date | None = None  # local day of the flight's departure; None for /v1/score

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "ts": self.ts,
            "model_version": self.model_version,
            "inputs": self.inputs,
            "features": self.features,
            "flags": self.flags,
            "probability": self.probability,
            "latency_ms": self.latency_ms,
            "flight_day": self.flight_day,
        }


@dataclass
class SpoolHealth:
    ok: bool = True  # the last append reached the spool
    detail: str | None = None
    backlog_rows: int = 0  # rows waiting in memory for a writable spool
    full: bool = False  # the shipper says the spool is at its bound: new rows are dropped
    shipper: dict[str, Any] | None = None  # the shipper's last status (database reachable, lag, ...)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok and not self.full,
            "detail": self.detail or ("the spool is at its bound: new rows are not logged" if self.full else None),
            "backlog_rows": self.backlog_rows,
            "shipper": self.shipper,
        }


class PredictionSpool:
    """Appends rows to this process's current segment; thread-safe (handlers run in a thread pool)."""

    def __init__(
        self,
        directory: Path,
        *,
        fsync_each: bool = False,
        rotate_bytes: int = 4 * 1024 * 1024,
        rotate_s: float = 30.0,
        backlog_rows: int = 10_000,
        retry_s: float = 1.0,
        on_drop: Callable[[str], None] | None = None,
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        self.directory = directory
        self.fsync_each = fsync_each
        self.rotate_bytes = rotate_bytes
        self.rotate_s = rotate_s
        self.retry_s = retry_s
        self.health = SpoolHealth()
        self._backlog: collections.deque[bytes] = collections.deque()
        self._backlog_max = backlog_rows
        self._on_drop = on_drop or (lambda reason: None)
        self._on_accepted = on_accepted or (lambda: None)
        self._lock = threading.Lock()
        self._writer = spool_format.new_writer_id()
        self._seq = 0
        self._segments = 0
        self._fd: int | None = None
        self._size = 0
        self._opened_at = 0.0
        self._retry_at = 0.0

    # --- the request path -------------------------------------------------------------------------
    def submit(self, row: PredictionRow) -> bool:
        """Append one row; False when it could not be spooled now (held in memory, or dropped)."""
        with self._lock:
            if self.health.full:
                self._on_drop("spool_full")
                return False
            self._seq += 1
            try:
                line = spool_format.encode(row.as_dict(), f"{self._writer}:{self._seq}")
            except (TypeError, ValueError) as exc:  # NaN or a non-JSON value: a bug upstream, not the client's
                log.error("prediction-log row %s cannot be encoded: %s", row.request_id, exc)
                self._on_drop("unencodable")
                return False
            if self._fd is None or self._backlog:  # in trouble: keep order, retry now and then
                self._hold(line)
                if time.monotonic() >= self._retry_at:
                    self._recover()
                return False
            if time.monotonic() - self._opened_at >= self.rotate_s or self._size >= self.rotate_bytes:
                self._rotate()
            if self._fd is None or not self._append(line):
                self._hold(line)
                return False
            self._on_accepted()
            return True

    def _append(self, line: bytes) -> bool:
        assert self._fd is not None
        try:
            written = os.write(self._fd, line)
            if written != len(line):  # a short write: the disk filled mid-line
                raise OSError(28, "No space left on device (short write)")
            if self.fsync_each:
                os.fsync(self._fd)
        except OSError as exc:
            self._fail(exc)
            return False
        self._size += written
        return True

    def _fail(self, exc: OSError) -> None:
        """Put the segment back to its last whole line, close it, remember why, retry later."""
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, self._size)  # a partial line would be a bad line for the shipper
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None
        if self.health.ok:
            log.error(
                "prediction spool %s is not writable (%s): rows wait in memory (up to %d), answers go on",
                self.directory,
                exc,
                self._backlog_max,
            )
        self.health.ok = False
        self.health.detail = f"{type(exc).__name__}: {exc}"
        self._retry_at = time.monotonic() + self.retry_s

    def _hold(self, line: bytes) -> None:
        if len(self._backlog) >= self._backlog_max:
            self._on_drop("spool_unwritable")
        else:
            self._backlog.append(line)
            self._on_accepted()  # accepted: written when the spool takes writes again
        self.health.backlog_rows = len(self._backlog)

    # --- segments ---------------------------------------------------------------------------------
    def _open(self) -> bool:
        self._segments += 1
        path = self.directory / spool_format.segment_name(self._writer, self._segments)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o640)
        except OSError as exc:
            self._fail(exc)
            return False
        fcntl.flock(fd, fcntl.LOCK_EX)  # ours alone: the shipper leaves a held segment in place
        self._fd, self._size, self._opened_at = fd, 0, time.monotonic()
        return True

    def _rotate(self) -> None:
        """Start the next segment, then let go of this one (the shipper may delete it once loaded)."""
        old = self._fd
        self._fd = None
        if old is not None:
            os.close(old)
        self._open()

    def _recover(self) -> None:
        """Try a fresh segment and write the backlog into it, oldest first."""
        if self._fd is None and not self._open():
            return
        while self._backlog:
            if self._size >= self.rotate_bytes:  # closed segments can be shipped (and their space freed) meanwhile
                self._rotate()
            if self._fd is None or not self._append(self._backlog[0]):
                return
            self._backlog.popleft()
        self.health.backlog_rows = 0
        if not self.health.ok:
            log.info("prediction spool %s is writable again: the rows held in memory are written", self.directory)
        self.health.ok, self.health.detail = True, None

    # --- lifecycle and the background ---------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            self._open()

    def maintain(self) -> SpoolHealth:
        """Off the request path (every second): retry a failed spool, read the shipper's status."""
        with self._lock:
            if (self._fd is None or self._backlog) and time.monotonic() >= self._retry_at:
                self._recover()
            status = spool_format.read_status(self.directory)
            self.health.shipper = status
            self.health.full = bool(status and status.get("full"))
            return self.health

    def close(self) -> None:
        """Shutdown: one last try at the backlog, then close the segment (nothing else is buffered)."""
        with self._lock:
            if self._backlog:
                self._recover()
                if self._backlog:
                    log.error("%d prediction-log rows could not be spooled at shutdown", len(self._backlog))
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
