"""The prediction log's table: the contract between the service that writes it and monitoring that reads it.

    engine = make_engine(settings.prediction_log_url)    # SQLite (embedded) or PostgreSQL (the stack)
    create_table(engine)
    insert_once(conn, rows)                               # serving/log_shipper.py: idempotent by log_key
    conn.execute(predictions.insert(), rows)              # pipelines/batch_score.py
    conn.execute(sa.select(predictions)...)               # monitoring/predictions.py

One SQLAlchemy Core table serves both databases. Which flight a row is about is inside `inputs`
(carrier, flight, origin, sched_dep_local, for /v1/predict and batch rows); `flags["source"]` says
who asked: "predict" (live, one flight), "score" (model inputs only, no flight key), "batch".
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(128), nullable=False, index=True),
    sa.Column("ts", sa.DateTime(timezone=True), nullable=False, index=True),  # UTC, when answered
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("inputs", sa.JSON, nullable=False),  # the request as received (after validation)
    sa.Column("features", sa.JSON, nullable=False),  # the model inputs actually used (null = imputed)
    sa.Column("flags", sa.JSON, nullable=False),  # {"source", "degraded", "degraded_reason", "missing", ...}
    sa.Column("probability", sa.Float, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),  # in the handler: features + model
    # The local day of the flight's scheduled departure (null for /v1/score: no flight). Monitoring
    # reads a day at a time; without this indexed column each read would scan every JSON row ever logged.
    sa.Column("flight_day", sa.Date, nullable=True, index=True),
    # The spool's key of a live row (serving/spool_format.py): unique, so a row the shipper loads
    # twice (it crashed between commit and delete) is stored once. Not the request id: a client
    # may send the same X-Request-ID twice, and each answer is a prediction to log. Null for batch
    # rows (written once, in one transaction) and for rows from before the spool.
    sa.Column("log_key", sa.String(64), nullable=True, unique=True),
)

# flags["source"] values
SOURCE_PREDICT = "predict"
SOURCE_SCORE = "score"
SOURCE_BATCH = "batch"


def make_engine(url: str, *, connect_timeout_s: int | None = None) -> sa.Engine:
    """An engine for the log; SQLite gets WAL + a busy timeout so several writers can share a file.
    `connect_timeout_s` bounds a PostgreSQL connect (a paused server would otherwise hang it)."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    connect_args = {} if connect_timeout_s is None else {"connect_timeout": connect_timeout_s}
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def create_table(engine: sa.Engine) -> None:
    """Create the table (and its indexes) unless it exists; safe when several workers start at once.

    `create_all` checks, then creates: two uvicorn workers starting together can both see no table,
    and the slower one's CREATE fails ("table predictions already exists"), which stops the whole
    server. The second attempt then finds the table and does nothing; any other error repeats.
    A table from before `flight_day` existed gets the column (see `add_flight_day`).
    """
    try:
        metadata.create_all(engine)
    except sa.exc.DBAPIError:
        metadata.create_all(engine)
    migrate(engine)


def migrate(engine: sa.Engine) -> None:
    """Bring a table made by an older version up to `predictions` (each step is idempotent)."""
    add_flight_day(engine)
    add_log_key(engine)


def _columns(engine: sa.Engine) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(predictions.name)}


def add_log_key(engine: sa.Engine) -> bool:
    """The second migration: the spool's idempotency key (null for every row logged before)."""
    if "log_key" in _columns(engine):
        return False
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE predictions ADD COLUMN log_key VARCHAR(64)"))
            conn.execute(sa.text("CREATE UNIQUE INDEX IF NOT EXISTS ux_predictions_log_key ON predictions (log_key)"))
    except sa.exc.DBAPIError:  # lost the race to another process: the column is there
        if "log_key" not in _columns(engine):
            raise
        return False
    return True


def insert_once(conn: sa.Connection, rows: list[dict[str, Any]]) -> int:
    """Insert rows that carry a `log_key`, skipping keys already stored; returns how many were new.

    ON CONFLICT DO NOTHING exists in both dialects (SQLite >= 3.24, PostgreSQL >= 9.5), so a batch
    shipped again after a crash is one statement, not a lookup per row.
    """
    if not rows:
        return 0
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(predictions).on_conflict_do_nothing(index_elements=["log_key"]).returning(predictions.c.log_key)
    # RETURNING lists only the rows inserted (SQLite >= 3.35): how many were new, in the same
    # statement (an executemany's rowcount is not reliable across drivers).
    return len(conn.execute(stmt, rows).all())


def read_rows(url: str, since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """All rows (or those answered at or after `since`, UTC), oldest first: for tests and reports;
    monitoring reads a day at a time."""
    engine = make_engine(url)
    query = sa.select(predictions).order_by(predictions.c.id)
    if since is not None:
        query = query.where(predictions.c.ts >= since)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
    finally:
        engine.dispose()


def add_flight_day(engine: sa.Engine) -> bool:
    """The one migration this table has had: add `flight_day`, index it, fill it for logged rows.

    Rows logged before have their flight's day only inside `inputs` (the ISO departure starts with
    it). Returns True when it changed the table. Two processes racing here: the loser's ALTER fails
    because the column exists, which is the state it wanted.
    """
    if "flight_day" in _columns(engine):
        return False
    day_text = sa.func.substr(predictions.c.inputs["sched_dep_local"].as_string(), 1, 10)
    # SQLite keeps a Date as its ISO text; PostgreSQL needs the cast.
    value = day_text if engine.dialect.name == "sqlite" else sa.cast(day_text, sa.Date)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE predictions ADD COLUMN flight_day DATE"))
            conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_predictions_flight_day ON predictions (flight_day)"))
            conn.execute(
                predictions.update()
                .where(predictions.c.inputs["sched_dep_local"].as_string().is_not(None))
                .values(flight_day=value)
            )
    except sa.exc.DBAPIError:
        if "flight_day" not in _columns(engine):
            raise
        return False
    return True
