"""The prediction log's table: created safely by racing processes, migrated, loaded idempotently."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from flightpath import prediction_table
from flightpath.prediction_table import create_table, insert_once, make_engine, predictions, read_rows


def row(key: str | None, request_id: str = "r") -> dict:
    return {
        "log_key": key,
        "request_id": request_id,
        "ts": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "model_version": "3",
        "inputs": {"origin": "EWR"},
        "features": {"wx_temp": None},
        "flags": {"source": "score"},
        "probability": 0.25,
        "latency_ms": 0.8,
        "flight_day": None,
    }


def test_creating_the_table_survives_losing_the_race_to_another_process(tmp_path, monkeypatch):
    """Two processes: both check "no table", the other creates it first, our CREATE fails."""
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    real = prediction_table.metadata.create_all
    calls = []

    def lose_the_race(bind, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            real(bind)  # the other process got there first...
            with bind.begin() as conn:  # ...and our own CREATE TABLE now fails
                conn.execute(sa.text("CREATE TABLE predictions (id INTEGER)"))
        return real(bind, *args, **kwargs)

    monkeypatch.setattr(prediction_table.metadata, "create_all", lose_the_race)
    create_table(engine)
    assert len(calls) == 2
    with engine.begin() as conn:
        assert insert_once(conn, [row("k1")]) == 1


def test_a_row_loaded_twice_is_stored_once_and_rows_without_key_always_land(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = make_engine(url)
    create_table(engine)
    with engine.begin() as conn:
        assert insert_once(conn, [row("a"), row("b")]) == 2
    with engine.begin() as conn:  # the shipper died after the commit, before deleting the segment
        assert insert_once(conn, [row("a"), row("b"), row("c")]) == 1
    with engine.begin() as conn:  # the same X-Request-ID answered twice is two predictions
        conn.execute(predictions.insert(), [row(None, "same"), row(None, "same")])
    assert sorted(str(r["log_key"]) for r in read_rows(url)) == ["None", "None", "a", "b", "c"]


def test_a_table_from_before_the_spool_gets_the_key_column(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = make_engine(url)
    old = sa.MetaData()
    sa.Table("predictions", old, *[c.copy() for c in predictions.columns if c.name != "log_key"])
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO predictions (request_id, ts, model_version, inputs, features, flags, "
                "probability, latency_ms) VALUES ('old', '2026-01-01', '1', '{}', '{}', '{}', 0.1, 1)"
            )
        )
    create_table(engine)
    with engine.begin() as conn:
        assert insert_once(conn, [row("a"), row("a")]) == 1
    assert [(r["request_id"], r["log_key"]) for r in read_rows(url)] == [("old", None), ("r", "a")]
