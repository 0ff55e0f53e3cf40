"""The data contract: every bad row is quarantined with the rule it broke; good rows are typed."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from pipelines.ingest.validate import validate_flights, validate_weather

DAY = dt.date(2013, 3, 10)  # the spring-forward day: 02:00-02:59 local does not exist
CARRIERS = {"AA", "UA", "B6"}


def _row(**kw: str | None) -> dict[str, str | None]:
    base = {
        "year": "2013",
        "month": "3",
        "day": "10",
        "sched_dep_time": "830",
        "dep_time": "845",
        "dep_delay": "15",
        "carrier": "AA",
        "flight": "100",
        "tailnum": "N1",
        "origin": "JFK",
        "dest": "MIA",
        "distance": "1089",
    }
    base.update(kw)
    return base


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (_row(carrier=None), "missing_key"),
        (_row(origin="BOS"), "unknown_origin"),
        (_row(carrier="ZZ"), "unknown_carrier"),
        (_row(sched_dep_time="1275"), "bad_sched_dep_time"),
        (_row(day="11"), "wrong_day"),
        (_row(sched_dep_time="230"), "nonexistent_local_time"),
        (_row(dest="miami"), "bad_dest"),
        (_row(distance="-5"), "bad_distance"),
        (_row(dep_delay="5000"), "dep_delay_out_of_range"),
        (_row(dep_time=None), "delay_without_departure"),
        (_row(flight="12a"), "bad_flight_number"),
    ],
)
def test_each_rule_quarantines_with_its_reason(row: dict, reason: str) -> None:
    raw = pd.DataFrame([_row(), row])
    result = validate_flights(raw, DAY, CARRIERS)
    assert len(result.curated) == 1
    assert result.quarantine["reason"].tolist() == [reason]
    assert result.rule_counts[reason] == 1


def test_cancelled_flights_stay_curated_and_flagged() -> None:
    raw = pd.DataFrame([_row(dep_time=None, dep_delay=None), _row(flight="200")])
    result = validate_flights(raw, DAY, CARRIERS)
    assert result.quarantine.empty
    assert result.curated["cancelled"].tolist().count(True) == 1


def test_missing_tailnum_is_a_missing_feature_not_a_quarantine() -> None:
    result = validate_flights(pd.DataFrame([_row(tailnum=None)]), DAY, CARRIERS)
    assert len(result.curated) == 1 and result.curated["tailnum"].iloc[0] is None


def test_duplicate_key_keeps_the_first_and_quarantines_the_rest() -> None:
    raw = pd.DataFrame([_row(), _row(dep_delay="40", dep_time="910")])
    result = validate_flights(raw, DAY, CARRIERS)
    assert result.curated["dep_delay"].tolist() == [15.0]
    assert result.quarantine["reason"].tolist() == ["duplicate_key"]


def test_local_departure_converts_to_utc_across_dst() -> None:
    raw = pd.DataFrame([_row(sched_dep_time="130"), _row(sched_dep_time="330", flight="2")])
    cur = validate_flights(raw, DAY, CARRIERS).curated
    # 01:30 EST = 06:30 UTC; 03:30 EDT = 07:30 UTC (one real hour later, two on the clock).
    assert [t.strftime("%H:%M") for t in cur["sched_dep_utc"]] == ["06:30", "07:30"]


def test_weather_out_of_range_is_quarantined_missing_reading_is_not() -> None:
    base = {
        "origin": "EWR",
        "year": "2013",
        "month": "3",
        "day": "10",
        "hour": "1",
        "temp": "40",
        "dewp": "30",
        "humid": "60",
        "wind_dir": "270",
        "wind_speed": "10",
        "wind_gust": None,
        "precip": "0",
        "pressure": "1012",
        "visib": "10",
        "time_hour": "2013-03-10T06:00:00Z",
    }
    bad = {**base, "time_hour": "2013-03-10T07:00:00Z", "humid": "140"}
    result = validate_weather(pd.DataFrame([base, bad]), DAY)
    assert len(result.curated) == 1 and result.curated["wind_gust"].isna().all()
    assert result.quarantine["reason"].tolist() == ["humid_out_of_range"]
