"""monitoring/decision.py: retrain on a real quality drop or sustained drift, never on noise or no data."""

from __future__ import annotations

import datetime as dt

from monitoring.decision import DayResult, Policy, decide

POLICY = Policy(quality_max_auc_drop=0.05, drift_days_to_retrain=3, cooldown_days=7)
D = dt.date(2013, 6, 10)


def day(offset: int = 0, **kw: object) -> DayResult:
    base: dict[str, object] = {
        "day": D + dt.timedelta(days=offset),
        "model_version": "3",
        "drift_detected": False,
        "quality_status": "ok",
        "auc": 0.70,
        "auc_high": 0.73,
        "champion_test_auc": 0.72,
    }
    base.update(kw)
    return DayResult(**base)  # type: ignore[arg-type]


def test_a_quiet_day_does_not_retrain_and_says_why():
    d = decide(day(), [], POLICY)
    assert not d.retrain
    assert any("quality holds" in r for r in d.reasons)


def test_quality_below_the_floor_even_at_the_top_of_its_interval_retrains():
    d = decide(day(auc=0.60, auc_high=0.64), [], POLICY)
    assert d.retrain
    assert "quality drop" in d.reasons[0] and "0.670" in d.reasons[0]  # floor = 0.72 - 0.05


def test_a_low_auc_whose_interval_still_reaches_the_floor_is_noise():
    assert not decide(day(auc=0.62, auc_high=0.69), [], POLICY).retrain


def test_not_enough_data_never_retrains():
    d = decide(day(quality_status="not_enough_data", auc=None, auc_high=None, drift_detected=None), [], POLICY)
    assert not d.retrain
    assert any("not enough" in r for r in d.reasons)


NO_LABELS = {"quality_status": "not_enough_data", "auc": None, "auc_high": None}


def test_sustained_drift_with_quality_holding_is_an_alert_not_a_retrain():
    streak = [day(-2, drift_detected=True), day(-1, drift_detected=True)]
    d = decide(day(drift_detected=True), streak, POLICY)
    assert not d.retrain and d.drift_alert
    assert any("investigate" in r for r in d.reasons)


def test_without_labels_one_or_two_drifted_days_are_weather_three_in_a_row_retrain():
    assert not decide(day(drift_detected=True, **NO_LABELS), [day(-1, drift_detected=True)], POLICY).retrain
    streak = [day(-2, drift_detected=True), day(-1, drift_detected=True)]
    d = decide(day(drift_detected=True, **NO_LABELS), streak, POLICY)
    assert d.retrain and d.drift_alert and "3 days in a row" in d.reasons[0]


def test_a_gap_or_a_calm_day_breaks_the_streak():
    gap = [day(-3, drift_detected=True), day(-1, drift_detected=True)]  # D-2 not monitored
    assert not decide(day(drift_detected=True, **NO_LABELS), gap, POLICY).drift_alert
    calm = [day(-2, drift_detected=True), day(-1, drift_detected=False)]
    assert not decide(day(drift_detected=True, **NO_LABELS), calm, POLICY).drift_alert


def test_cool_down_holds_back_a_second_retraining_and_says_so():
    earlier = [day(-3, retrain_triggered=True)]
    d = decide(day(auc=0.5, auc_high=0.55), earlier, POLICY)
    assert not d.retrain
    assert any("cool-down" in r for r in d.reasons)
    assert decide(day(auc=0.5, auc_high=0.55), [day(-8, retrain_triggered=True)], POLICY).retrain


def test_later_days_in_the_history_are_ignored():
    later = [day(1, retrain_triggered=True), day(-1, drift_detected=True), day(-2, drift_detected=True)]
    assert decide(day(drift_detected=True, **NO_LABELS), later, POLICY).retrain
