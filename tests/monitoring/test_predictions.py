"""monitoring/predictions.py: the prediction log read back by flight day, and outcomes joined without leakage."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract import CATEGORICAL_FEATURES, LABEL, MODEL_INPUTS, NUMERIC_FEATURES
from flightpath.prediction_table import create_table, make_engine, predictions
from monitoring.predictions import join_outcomes, latest_per_flight, outcomes_of, read_predictions

UTC = dt.UTC


def _row(flight: int, sched: str, source: str, p: float, **features: object) -> dict[str, object]:
    feats: dict[str, object] = {name: 1.0 for name in NUMERIC_FEATURES}
    feats.update({"carrier": "UA", "origin": "EWR", "dest": "ORD", "wx_wind_gust": None})
    feats.update(features)
    inputs = {
        "carrier": "UA",
        "flight": flight,
        "tailnum": "N1",
        "origin": "EWR",
        "dest": "ORD",
        "sched_dep_local": sched,
    }
    return {
        "request_id": f"r{flight}-{source}",
        "ts": dt.datetime(2026, 12, 1, tzinfo=UTC),
        "model_version": "1",
        "inputs": inputs if source != "score" else feats,
        "features": feats,
        "flags": {"source": source, "degraded": False},
        "probability": p,
        "latency_ms": 1.0,
        "flight_day": dt.date.fromisoformat(sched[:10]) if source != "score" else None,
    }


@pytest.fixture
def log_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    engine = make_engine(url)
    create_table(engine)
    rows = [
        _row(1, "2013-04-01T06:00:00-04:00", "batch", 0.1),
        _row(1, "2013-04-01T06:00:00-04:00", "predict", 0.2),
        _row(2, "2013-04-01T23:30:00-04:00", "predict", 0.3, wx_temp=55.5),
        _row(3, "2013-04-02T00:10:00-04:00", "predict", 0.4),  # the next local day
        _row(4, "2013-04-01T07:00:00-04:00", "score", 0.5),  # no flight key: not monitored
    ]
    with engine.begin() as conn:
        conn.execute(predictions.insert(), rows)
    engine.dispose()
    return url


def test_rows_are_read_by_the_flights_local_day_not_by_when_they_were_logged(log_url: str):
    got = read_predictions(log_url, [dt.date(2013, 4, 1)])
    assert sorted(got["flight"]) == [1, 1, 2]
    assert set(got["source"]) == {"batch", "predict"}
    assert list(read_predictions(log_url, [dt.date(2013, 4, 2)])["flight"]) == [3]
    assert read_predictions(log_url, [dt.date(2013, 4, 3)]).empty


def test_model_inputs_come_back_typed_with_missing_as_nan(log_url: str):
    got = read_predictions(log_url, [dt.date(2013, 4, 1)])
    assert set(MODEL_INPUTS) <= set(got.columns)
    row = got[got["flight"] == 2].iloc[0]
    assert row["wx_temp"] == 55.5 and math.isnan(row["wx_wind_gust"])
    assert all(got[c].dtype == np.float64 for c in NUMERIC_FEATURES)
    assert all(isinstance(got[c].iloc[0], str) for c in CATEGORICAL_FEATURES)
    assert str(got["sched_dep_utc"].iloc[0]) == "2013-04-01 10:00:00+00:00"


LEGACY_TABLE = """CREATE TABLE predictions (id INTEGER PRIMARY KEY {auto}, request_id VARCHAR(128) NOT NULL,
    ts TIMESTAMP {tz} NOT NULL, model_version VARCHAR(32) NOT NULL, inputs {json} NOT NULL,
    features {json} NOT NULL, flags {json} NOT NULL, probability FLOAT NOT NULL, latency_ms FLOAT NOT NULL)"""


def _legacy_log(url: str, **types: str) -> None:
    """A prediction log as serving wrote it before `flight_day` existed, with two rows in it."""
    import sqlalchemy as sa

    engine = make_engine(url)
    rows = [_row(1, "2013-04-01T06:00:00-04:00", "predict", 0.2), _row(9, "2013-04-01T07:00:00-04:00", "score", 0.5)]
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS predictions"))
        conn.execute(sa.text(LEGACY_TABLE.format(**types)))
        # Typed columns: SQLAlchemy writes the timestamp as serving did, whatever sqlite3 adapters
        # another library in this process registered (one turned it into a number once).
        legacy = sa.table("predictions", *(sa.column(c.name, c.type) for c in predictions.columns if c.name in rows[0]))
        for r in rows:
            conn.execute(legacy.insert().values(**{k: v for k, v in r.items() if k != "flight_day"}))
    engine.dispose()


def test_a_log_from_before_flight_day_is_migrated_and_read(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _legacy_log(url, auto="", tz="", json="JSON")
    got = read_predictions(url, [dt.date(2013, 4, 1)])
    assert list(got["flight"]) == [1]  # the score row has no flight: not a day's row
    assert read_predictions(url, [dt.date(2013, 4, 1)])["flight"].tolist() == [1]  # migrated once, idempotent


@pytest.mark.integration
def test_the_migration_on_postgresql(tmp_path: Path):
    """PostgreSQL (the stack's log): the same migration, in a database of its own."""
    import uuid

    import psycopg

    from tests.conftest import require_service

    require_service("PostgreSQL", "127.0.0.1", 5432)
    db = f"flightpath_plog_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
    try:
        _legacy_log(url, auto="GENERATED BY DEFAULT AS IDENTITY", tz="WITH TIME ZONE", json="JSON")
        got = read_predictions(url, [dt.date(2013, 4, 1)])
        assert list(got["flight"]) == [1]
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def test_a_log_without_the_table_reads_as_empty(tmp_path: Path):
    got = read_predictions(f"sqlite:///{tmp_path / 'none.db'}", [dt.date(2013, 4, 1)])
    assert got.empty and "probability" in got.columns


def test_latest_per_flight_keeps_one_answer_per_flight_and_source(log_url: str):
    got = read_predictions(log_url, [dt.date(2013, 4, 1)])
    twice = pd.concat([got, got.assign(id=got["id"] + 100, probability=0.9)], ignore_index=True)
    latest = latest_per_flight(twice)
    assert len(latest) == 3 and set(latest["probability"]) == {0.9}


def _flights(*rows: tuple[int, str, float, bool]) -> pd.DataFrame:
    """(flight, scheduled UTC, dep_delay, cancelled) -> curated-flights-shaped frame."""
    return pd.DataFrame(
        {
            "carrier": "UA",
            "flight": [r[0] for r in rows],
            "origin": "EWR",
            "sched_dep_utc": pd.to_datetime([r[1] for r in rows], utc=True),
            "dep_delay": [r[2] for r in rows],
            "cancelled": [r[3] for r in rows],
        }
    )


def test_each_prediction_gets_its_own_flights_outcome_and_only_once_known(log_url: str):
    preds = read_predictions(log_url, [dt.date(2013, 4, 1)])
    flights = _flights(
        (1, "2013-04-01T10:00:00Z", 30.0, False),  # left 10:30 UTC, delayed
        (2, "2013-04-02T03:30:00Z", 60.0, False),  # left 04:30 UTC on Apr 2: after the day ended
        (7, "2013-04-01T10:00:00Z", 0.0, False),  # another flight at the same minute: not joined
    )
    end_of_day = dt.datetime(2013, 4, 2, 4, 0, tzinfo=UTC)  # local midnight after Apr 1
    joined = join_outcomes(preds, outcomes_of(flights), as_of=end_of_day)
    assert len(joined) == len(preds)  # nothing duplicated, nothing dropped
    by_flight = joined.groupby("flight")[LABEL].first()
    assert by_flight[1] == 1.0
    assert math.isnan(by_flight[2])  # its outcome was not known yet at as_of
    later = join_outcomes(preds, outcomes_of(flights), as_of=end_of_day + dt.timedelta(hours=1))
    assert later.groupby("flight")[LABEL].first()[2] == 1.0


def test_a_flight_at_another_minute_or_airport_is_a_different_flight(log_url: str):
    preds = read_predictions(log_url, [dt.date(2013, 4, 1)])
    flights = pd.concat(
        [
            _flights((1, "2013-04-01T10:05:00Z", 30.0, False)),  # same number, five minutes later
            _flights((1, "2013-04-01T10:00:00Z", 30.0, False)).assign(origin="JFK"),
        ]
    )
    joined = join_outcomes(preds, outcomes_of(flights), as_of=dt.datetime(2014, 1, 1, tzinfo=UTC))
    assert joined[LABEL].isna().all()


def test_cancelled_flights_never_get_a_label(log_url: str):
    preds = read_predictions(log_url, [dt.date(2013, 4, 1)])
    flights = _flights((1, "2013-04-01T10:00:00Z", float("nan"), True))
    joined = join_outcomes(preds, outcomes_of(flights), as_of=dt.datetime(2014, 1, 1, tzinfo=UTC))
    assert joined[LABEL].isna().all()


def test_a_naive_as_of_is_refused(log_url: str):
    with pytest.raises(ValueError, match="timezone"):
        join_outcomes(
            read_predictions(log_url, [dt.date(2013, 4, 1)]), outcomes_of(_flights()), as_of=dt.datetime(2014, 1, 1)
        )
