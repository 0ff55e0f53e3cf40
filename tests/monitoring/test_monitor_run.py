"""monitor_windows: the split by day, where the report lands, and the retraining signal."""

from __future__ import annotations

import datetime as dt
import json
import math

import pandas as pd
import pytest

from features.contract import MODEL_INPUTS
from monitoring.run import DRIFT_ALERT_SHARE, monitor_windows, split_windows

START = dt.date(2013, 1, 1)
# The settings fixture (tests/conftest.py) has monitor_days=4: days 17-20 of a 20-day frame.
CUR_START, CUR_END = dt.date(2013, 1, 17), dt.date(2013, 1, 20)


def _year(frame_factory, shifted: list[str], seed: int = 7) -> pd.DataFrame:
    """20 days: 16 reference days, then 4 current days holding the same rows with `shifted` moved +100.

    Copying the rows makes every unshifted column identical in both windows (distance 0, p-value 1),
    so the drifted set is exact whatever the seed. Two fresh samples would not do: at ~1k values per
    column, sampling noise alone reaches Evidently's 0.1 Wasserstein threshold now and then.
    """
    ref = frame_factory(2000, seed=seed, start=START, n_days=16)
    cur = ref.copy()
    cur["day"] = [CUR_START + dt.timedelta(days=i % 4) for i in range(len(cur))]
    cur["sched_dep_utc"] = ref["sched_dep_utc"] + pd.Timedelta(days=16)
    for c in shifted:
        cur[c] = cur[c] + 100.0
    # Shuffle so nothing depends on the frame being sorted by day.
    return pd.concat([ref, cur], ignore_index=True).sample(frac=1.0, random_state=0).reset_index(drop=True)


def test_split_takes_the_last_monitor_days_calendar_days(frame_factory):
    frame = _year(frame_factory, [])
    days = frame["day"]

    reference, current, bounds = split_windows(frame, monitor_days=4)

    assert set(current["day"]) == {CUR_START + dt.timedelta(days=i) for i in range(4)}
    assert set(reference["day"]) == {START + dt.timedelta(days=i) for i in range(16)}
    assert len(reference) + len(current) == len(frame)
    assert len(current) == int((days >= CUR_START).sum())
    assert bounds == {
        "reference_start": "2013-01-01",
        "reference_end": "2013-01-16",
        "current_start": "2013-01-17",
        "current_end": "2013-01-20",
    }


def test_split_accepts_iso_strings_and_counts_calendar_days_across_gaps(frame_factory):
    frame = _year(frame_factory, [])
    frame["day"] = frame["day"].map(dt.date.isoformat)
    frame = frame[frame["day"] != "2013-01-18"]  # a day with no flights still counts as a day

    reference, current, bounds = split_windows(frame, monitor_days=4)

    assert sorted(current["day"].unique()) == ["2013-01-17", "2013-01-19", "2013-01-20"]
    assert reference["day"].max() == "2013-01-16"
    assert bounds["current_start"] == "2013-01-17"


def test_split_refuses_a_frame_with_no_reference_days(frame_factory):
    frame = frame_factory(100, seed=1, start=START, n_days=4)
    with pytest.raises(ValueError, match=r"2013-01-01\.\.2013-01-04 \(4 days\).*monitor_days=4"):
        split_windows(frame, monitor_days=4)


def test_split_names_a_missing_or_bad_day_column(frame_factory):
    frame = frame_factory(100, seed=1)
    with pytest.raises(ValueError, match="'day'"):
        split_windows(frame.drop(columns=["day"]), monitor_days=4)
    frame["day"] = frame["day"].astype(object)
    frame.loc[3, "day"] = "not a day"
    with pytest.raises(ValueError, match="1 row.*'not a day'"):
        split_windows(frame, monitor_days=4)
    with pytest.raises(ValueError, match="empty"):
        split_windows(frame.iloc[:0], monitor_days=4)


def _numeric_columns(k: int) -> list[str]:
    """k model inputs to shift: the weather and plane columns first (never the calendar ones)."""
    candidates = [c for c in MODEL_INPUTS if c.startswith(("wx_", "plane_", "carrier_", "origin_"))]
    return candidates[:k]


def test_monitor_writes_the_named_report_and_flags_retraining(settings, frame_factory):
    # The smallest number of drifted inputs that reaches the alert share (7 of 22 at 0.3).
    shifted = _numeric_columns(math.ceil(DRIFT_ALERT_SHARE * len(MODEL_INPUTS)))
    frame = _year(frame_factory, shifted)

    summary = monitor_windows(settings, frame)

    out = settings.reports_dir / "drift"
    assert summary["html_path"] == str(out / "drift_2013-01-01_2013-01-20.html")
    assert (out / "drift_2013-01-01_2013-01-20.html").stat().st_size > 0
    stored = json.loads((out / "drift_2013-01-01_2013-01-20.json").read_text())["summary"]
    assert stored == summary and stored["windows"]["current_start"] == "2013-01-17"
    assert summary["reference_rows"] == 2000 and summary["current_rows"] == 2000
    assert summary["drifted_columns"] == [c for c in MODEL_INPUTS if c in shifted]
    assert summary["drift_share"] == pytest.approx(len(shifted) / len(MODEL_INPUTS))
    assert summary["drift_share"] >= DRIFT_ALERT_SHARE
    assert summary["drift_detected"] is True


def test_below_the_alert_share_is_reported_but_not_flagged(settings, frame_factory):
    shifted = _numeric_columns(math.ceil(DRIFT_ALERT_SHARE * len(MODEL_INPUTS)) - 1)  # one short of the alert
    summary = monitor_windows(settings, _year(frame_factory, shifted))

    assert summary["drifted_columns"] == [c for c in MODEL_INPUTS if c in shifted]
    assert summary["drift_share"] < DRIFT_ALERT_SHARE
    assert summary["drift_detected"] is False
