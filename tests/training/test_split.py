"""The time split: disjoint, ordered, the right lengths, unlabelled rows out, clear failures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from training_frames import synthetic_training_frame, training_settings

from features.contract import LABEL
from training.split import SplitError, local_days, time_split


def test_parts_are_time_ordered_disjoint_and_sized_by_settings(training_frame: pd.DataFrame, tmp_path: Path) -> None:
    settings = training_settings(tmp_path, monitor_days=4, validation_days=3)
    split = time_split(training_frame, settings)
    b = split.boundaries

    # Every part is sorted, and each part ends before the next begins (in time, not just in days).
    for part in (split.train, split.validation, split.test):
        assert part["sched_dep_utc"].is_monotonic_increasing
    assert split.train["sched_dep_utc"].max() < split.validation["sched_dep_utc"].min()
    assert split.validation["sched_dep_utc"].max() < split.test["sched_dep_utc"].min()

    # Boundaries: test is the last 4 days, validation the 3 before, train the rest (30 days total).
    assert (b["train_start"], b["train_end"]) == ("2013-01-01", "2013-01-23")
    assert (b["validation_start"], b["validation_end"]) == ("2013-01-24", "2013-01-26")
    assert (b["test_start"], b["test_end"]) == ("2013-01-27", "2013-01-30")
    for name, part in (("train", split.train), ("validation", split.validation), ("test", split.test)):
        days = local_days(part)
        assert min(days).isoformat() == b[f"{name}_start"] and max(days).isoformat() == b[f"{name}_end"]

    # No flight in two parts; every labelled flight in one.
    keys = [
        set(zip(p["carrier"], p["flight"], p["origin"], p["sched_dep_utc"], strict=True))
        for p in (split.train, split.validation, split.test)
    ]
    assert not (keys[0] & keys[1] or keys[1] & keys[2] or keys[0] & keys[2])
    labelled = training_frame[~training_frame["cancelled"]]
    assert sum(map(len, keys)) == len(labelled)


def test_cancelled_flights_are_dropped_not_guessed(training_frame: pd.DataFrame, tmp_path: Path) -> None:
    split = time_split(training_frame, training_settings(tmp_path))
    cancelled = int(training_frame["cancelled"].sum())
    assert cancelled > 0 and split.dropped_unlabelled == cancelled
    for part in (split.train, split.validation, split.test):
        assert not part["cancelled"].any() and part[LABEL].notna().all()


def test_day_column_may_be_a_date_after_a_parquet_round_trip(training_frame: pd.DataFrame, tmp_path: Path) -> None:
    as_dates = training_frame.assign(day=pd.to_datetime(training_frame["day"]).dt.date)
    settings = training_settings(tmp_path)
    assert time_split(as_dates, settings).boundaries == time_split(training_frame, settings).boundaries


def test_window_too_short_fails_naming_the_empty_part(tmp_path: Path) -> None:
    frame = synthetic_training_frame(days=6, flights_per_day=20)
    with pytest.raises(SplitError, match=r"the train part \(2013-01-01\.\.2012-12-30\) is empty"):
        time_split(frame, training_settings(tmp_path, monitor_days=4, validation_days=3))
    # Exactly long enough: one train day.
    frame = synthetic_training_frame(days=8, flights_per_day=20)
    split = time_split(frame, training_settings(tmp_path, monitor_days=4, validation_days=3))
    assert split.boundaries["train_start"] == split.boundaries["train_end"] == dt.date(2013, 1, 1).isoformat()


def test_a_day_without_flights_still_counts_as_a_calendar_day(training_frame: pd.DataFrame, tmp_path: Path) -> None:
    # Remove Jan 29: the test window is still the last 4 *calendar* days (27..30), holding 3 days of data.
    gap = training_frame[training_frame["day"] != "2013-01-29"]
    split = time_split(gap, training_settings(tmp_path, monitor_days=4))
    assert split.boundaries["test_start"] == "2013-01-27"
    assert sorted(set(split.test["day"])) == ["2013-01-27", "2013-01-28", "2013-01-30"]
