"""The log shipper: one process per server that loads the prediction spool into the database.

    python -m serving.log_shipper           # `flightpath serve` starts it beside the workers, and stops it

Every `prediction_ship_interval_s` it fsyncs each segment (the "interval" fsync policy), reads
what was appended since it last looked, inserts it in transactions of `batch_rows` with the row's
spool key as the idempotency key (flightpath/prediction_table.py `insert_once`), and deletes a
segment only once its writer let go of it and every line is committed. Delivery is at least once
from the spool and exactly once in the table: a crash between commit and delete loads the same
lines again, and the unique key turns the second insert into nothing.

The database away (down, restarting, paused): rows wait in the spool, the shipper retries with a
back-off of at most `MAX_BACKOFF_S`, says so once (and again every minute) with how much waits,
and reports it in status.json, which the workers turn into metrics and their /readyz body. Never
a reason for a worker to turn unready. At `prediction_spool_max_mb` of unshipped rows it tells the
workers the spool is full: they answer on but stop logging (counted) until it drains.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from flightpath import logs
from flightpath.prediction_table import create_table, insert_once, make_engine
from flightpath.settings import Settings
from serving import spool_format
from serving.sidecar import ORPHAN_CHECK_S, StopFlag, lower_priority, orphaned, settings_from_environment

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0  # a database back after a restart is found within this
REPORT_EVERY_S = 60.0  # while the database is away, say again how much waits
NEAR_FULL = 0.8  # warn when the unshipped rows reach this share of the bound
READ_CHUNK = 8 * 1024 * 1024  # bytes read from one segment per pass
STOP_GRACE_S = 10.0  # the last pass after SIGTERM; the server kills us at CHILD_STOP_TIMEOUT_S (15 s)


class LogShipper:
    def __init__(self, settings: Settings, *, batch_rows: int = 500) -> None:
        self.spool_dir = settings.spool_dir
        self.url = settings.prediction_log_url
        self.fsync = settings.prediction_spool_fsync == "interval"
        self.limit_bytes = settings.prediction_spool_max_mb * 1024 * 1024
        self.batch_rows = batch_rows
        self.offsets: dict[str, int] = {}  # segment name -> bytes committed (lost on restart: reloads are no-ops)
        self.synced_closed: set[str] = set()  # closed segments fsynced once already
        self.engine: sa.Engine | None = None
        self.table_ready = False
        self.db_ok: bool | None = None
        self.db_detail: str | None = None
        self.down_since: dt.datetime | None = None
        self.retry_at = 0.0
        self.failures = 0
        self.reported_at = 0.0
        self.near_full_warned = False
        self.shipped = 0
        self.duplicates = 0
        self.rejected = 0

    # --- one pass -----------------------------------------------------------------------------------
    def ship_once(self) -> dict[str, Any]:
        """Load what the spool holds (when the database is due a try), then report; returns the status."""
        db_due = time.monotonic() >= self.retry_at
        try:
            self.spool_dir.mkdir(parents=True, exist_ok=True)  # before the first worker made it
        except OSError as exc:
            log.warning("cannot make the spool folder %s: %s", self.spool_dir, exc)
        if db_due and not self.table_ready:  # the table exists from the first pass, rows or not
            try:
                self._engine()
                self._database_ok()
            except sa.exc.SQLAlchemyError as exc:
                self._database_failed(exc)
                db_due = False
        for segment in spool_format.segments(self.spool_dir):
            closed = spool_format.is_closed(segment)  # before reading: a closed segment grows no more
            try:
                self._ship_segment(segment, closed, db_due)
            except FileNotFoundError:
                self.offsets.pop(segment.name, None)
            except sa.exc.SQLAlchemyError as exc:
                self._database_failed(exc)
                db_due = False  # the rest waits for the next try
        status = self.status()
        try:
            spool_format.write_status(self.spool_dir, status)
        except OSError as exc:  # a full disk: the workers keep their last view
            log.warning("cannot write the spool status: %s", exc)
        self._report(status)
        return status

    def _ship_segment(self, segment: Path, closed: bool, db_due: bool) -> None:
        offset = self.offsets.get(segment.name, 0)
        with segment.open("rb") as f:
            # The policy: what the workers appended is on disk within a pass. A segment closed since the
            # last pass gets its last fsync too (its writer never syncs), then never again.
            if self.fsync and segment.name not in self.synced_closed:
                os.fsync(f.fileno())
                if closed:
                    self.synced_closed.add(segment.name)
            f.seek(offset)
            data = f.read(READ_CHUNK)
            at_end = f.tell() >= os.fstat(f.fileno()).st_size
        whole = data[: data.rfind(b"\n") + 1]  # whole lines only: the rest is still being written
        if db_due and whole:
            self._load(segment, offset, whole)  # raises when the database fails: the rest waits
        done = self.offsets.get(segment.name, 0) == offset + len(whole)
        if not (closed and at_end and done):
            return  # still written to, more to read, or not all committed
        if len(data) > len(whole):  # a closed segment ending mid-line: its writer died inside a write
            self._reject(segment, data[len(whole) :], "an incomplete last line")
        segment.unlink()
        self.offsets.pop(segment.name, None)
        self.synced_closed.discard(segment.name)

    def _load(self, segment: Path, offset: int, data: bytes) -> None:
        """Insert the whole lines in `data`, batch by batch; the offset moves after each commit."""
        lines = data.splitlines(keepends=True)
        for start in range(0, len(lines), self.batch_rows):
            chunk = lines[start : start + self.batch_rows]
            rows = []
            for line in chunk:
                try:
                    rows.append(spool_format.decode(line))
                except (ValueError, TypeError, KeyError) as exc:
                    self._reject(segment, line, str(exc))
            engine = self._engine()
            with engine.begin() as conn:
                new = insert_once(conn, rows)
            self._database_ok()
            self.shipped += new
            self.duplicates += len(rows) - new
            offset += sum(map(len, chunk))
            self.offsets[segment.name] = offset
        self.offsets.setdefault(segment.name, offset)  # all lines rejected: nothing to commit

    def _engine(self) -> sa.Engine:
        if self.engine is None:
            self.engine = make_engine(self.url, connect_timeout_s=5)
        if not self.table_ready:
            create_table(self.engine)  # here, not in the workers: a hung database never blocks readiness
            self.table_ready = True
        return self.engine

    def _reject(self, segment: Path, line: bytes, reason: str) -> None:
        """Keep a line the table cannot take, for a person to look at; never silently lost."""
        self.rejected += 1
        folder = self.spool_dir / spool_format.REJECTED_DIR
        try:
            folder.mkdir(exist_ok=True)
            with (folder / segment.name).open("ab") as f:
                f.write(line if line.endswith(b"\n") else line + b"\n")
        except OSError as exc:  # nowhere to keep it: the log line is the last copy
            log.error(
                "prediction spool: a line of %s cannot be loaded (%s) nor kept (%s): %r",
                segment.name,
                reason,
                exc,
                line,
            )
            return
        log.error("prediction spool: a line of %s kept in %s/ (%s)", segment.name, spool_format.REJECTED_DIR, reason)

    # --- the database's state -----------------------------------------------------------------------
    def _database_failed(self, exc: Exception) -> None:
        self.failures += 1
        self.retry_at = time.monotonic() + min(MAX_BACKOFF_S, 0.25 * 2**self.failures)
        self.db_detail = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        if self.db_ok is not False:
            self.down_since = dt.datetime.now(dt.UTC)
            self.reported_at = 0.0  # say it at once
        self.db_ok = False
        if self.engine is not None:
            self.engine.dispose()  # no pooled connection to a database that went away

    def _database_ok(self) -> None:
        if self.db_ok is False:
            log.info("prediction log database is back after %s: loading the spool", self._down_for())
        self.db_ok, self.db_detail, self.down_since, self.failures = True, None, None, 0

    def _down_for(self) -> str:
        if self.down_since is None:
            return "0 s"
        return f"{(dt.datetime.now(dt.UTC) - self.down_since).total_seconds():.0f} s"

    # --- the report ---------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        unshipped, oldest = 0, None
        segments = spool_format.segments(self.spool_dir)
        for segment in segments:
            try:
                left = segment.stat().st_size - self.offsets.get(segment.name, 0)
            except FileNotFoundError:
                continue
            if left > 0:
                unshipped += left
                oldest = oldest or self._first_unshipped_ts(segment)
        now = dt.datetime.now(dt.UTC)
        return {
            "updated": now.isoformat(),
            "pid": os.getpid(),
            "database": {
                "ok": self.db_ok,
                "detail": self.db_detail,
                "down_since": self.down_since.isoformat() if self.down_since else None,
            },
            "segments": len(segments),
            "unshipped_bytes": unshipped,
            "limit_bytes": self.limit_bytes,
            "full": unshipped >= self.limit_bytes,
            "lag_s": round((now - oldest).total_seconds(), 3) if oldest else 0.0,
            "shipped_rows": self.shipped,
            "duplicate_rows": self.duplicates,
            "rejected_lines": self.rejected,
        }

    def _first_unshipped_ts(self, segment: Path) -> dt.datetime | None:
        try:
            with segment.open("rb") as f:
                f.seek(self.offsets.get(segment.name, 0))
                line = f.readline()
            return dt.datetime.fromisoformat(json.loads(line)["ts"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _report(self, status: dict[str, Any]) -> None:
        share = status["unshipped_bytes"] / self.limit_bytes
        if share >= NEAR_FULL and not self.near_full_warned:
            log.warning(
                "prediction spool at %.0f%% of its %d MB bound; at 100%% predictions are answered but not logged",
                100 * share,
                self.limit_bytes // 2**20,
            )
        self.near_full_warned = share >= NEAR_FULL
        if self.db_ok is False and time.monotonic() - self.reported_at >= REPORT_EVERY_S:
            self.reported_at = time.monotonic()
            log.error(
                "prediction log database unreachable for %s (%s): %d bytes of rows wait in the spool, none is lost",
                self._down_for(),
                self.db_detail,
                status["unshipped_bytes"],
            )

    # --- the process ----------------------------------------------------------------------------------
    def run(self, stop: StopFlag, interval_s: float) -> None:
        """Ship until stopped or the server is gone; then one last pass."""
        parent = os.getppid()
        while not stop.wait(min(interval_s, ORPHAN_CHECK_S)):
            try:
                self.ship_once()
            except Exception:  # never let the loop die silently
                log.exception("log shipping failed; trying again")
            if orphaned(parent):
                log.warning("the server (pid %d) is gone; the log shipper stops", parent)
                break
        self.retry_at = 0.0  # the last pass tries the database whatever the back-off
        try:
            status = self.ship_once()
            log.info("log shipper stops: %d bytes of rows left in the spool", status["unshipped_bytes"])
        except Exception:
            log.exception("the last shipping pass failed; the rows stay in the spool")


def main() -> None:
    settings = settings_from_environment()
    logs.configure(json_lines=settings.log_json)
    lower_priority()
    # The last pass gets STOP_GRACE_S (a database that stopped answering must not keep us for ever);
    # whatever it could not load stays in the spool for the next start.
    stop = StopFlag.install(grace_s=STOP_GRACE_S)
    target = sa.engine.make_url(settings.prediction_log_url).render_as_string(hide_password=True)
    log.info("log shipper: %s -> %s every %.2f s", settings.spool_dir, target, settings.prediction_ship_interval_s)
    LogShipper(settings).run(stop, settings.prediction_ship_interval_s)
    sys.exit(0)


if __name__ == "__main__":
    main()
