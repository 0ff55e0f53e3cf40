"""Calendar features: one function, identical for training rows and serving requests."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from features.request_time import calendar_columns, calendar_features, days_to_nearest_holiday


def test_calendar_features_of_a_known_flight() -> None:
    got = calendar_features(dt.datetime(2013, 1, 10, 17, 45))
    assert got == {"sched_hour": 17.75, "sched_weekday": 3.0, "sched_month": 1.0, "days_to_holiday": 9.0}


def test_holiday_distance_equals_a_scan_of_the_table_for_every_day() -> None:
    from features.request_time import _HOLIDAYS

    day = dt.date(2012, 10, 1)
    while day <= dt.date(2014, 3, 31):  # beyond both ends of the table too
        assert days_to_nearest_holiday(day) == min(abs((h - day).days) for h in _HOLIDAYS), day
        day += dt.timedelta(days=1)


def test_holiday_distance_looks_both_ways() -> None:
    assert days_to_nearest_holiday(dt.date(2013, 7, 4)) == 0
    assert days_to_nearest_holiday(dt.date(2013, 12, 31)) == 1  # to 2014-01-01, across the year end


def test_columns_are_the_row_function_applied_to_pandas_timestamps() -> None:
    stamps = pd.Series(pd.to_datetime(["2013-03-10 01:59", "2013-11-03 01:30", "2013-06-01 23:05"]))
    cols = calendar_columns(stamps)
    for i, ts in enumerate(stamps):
        assert {k: v[i] for k, v in cols.items()} == calendar_features(ts.to_pydatetime())


def test_training_rows_equal_what_serving_computes(training_frame: pd.DataFrame) -> None:
    sample = training_frame.sample(200, random_state=13)
    for _, row in sample.iterrows():
        # Serving receives local wall time as an ISO string without offset.
        request = dt.datetime.fromisoformat(row["sched_dep_local"].isoformat())
        assert {k: row[k] for k in calendar_features(request)} == calendar_features(request)
