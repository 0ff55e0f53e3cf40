"""The prediction log's table: the contract between the service that writes it and monitoring that reads it.

    engine = make_engine(settings.prediction_log_url)    # SQLite (embedded) or PostgreSQL (the stack)
    create_table(engine)
    conn.execute(predictions.insert(), rows)              # serving/prediction_log.py, pipelines/batch_score.py
    conn.execute(sa.select(predictions)...)               # monitoring/predictions.py

One SQLAlchemy Core table serves both databases. Which flight a row is about is inside `inputs`
(carrier, flight, origin, sched_dep_local, for /v1/predict and batch rows); `flags["source"]` says
who asked: "predict" (live, one flight), "score" (model inputs only, no flight key), "batch".
"""

from __future__ import annotations

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
)

# flags["source"] values
SOURCE_PREDICT = "predict"
SOURCE_SCORE = "score"
SOURCE_BATCH = "batch"


def make_engine(url: str) -> sa.Engine:
    """An engine for the log; SQLite gets WAL + a busy timeout so several writers can share a file."""
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
    return sa.create_engine(url, pool_pre_ping=True)


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
    add_flight_day(engine)


def add_flight_day(engine: sa.Engine) -> bool:
    """The one migration this table has had: add `flight_day`, index it, fill it for logged rows.

    Rows logged before have their flight's day only inside `inputs` (the ISO departure starts with
    it). Returns True when it changed the table. Two processes racing here: the loser's ALTER fails
    because the column exists, which is the state it wanted.
    """
    if "flight_day" in {c["name"] for c in sa.inspect(engine).get_columns(predictions.name)}:
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
        if "flight_day" not in {c["name"] for c in sa.inspect(engine).get_columns(predictions.name)}:
            raise
        return False
    return True
