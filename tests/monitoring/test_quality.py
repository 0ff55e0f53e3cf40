"""monitoring/quality.py: metrics with intervals, and 'not enough data' instead of a crash or an alarm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.quality import NOT_ENOUGH_DATA, OK, calibration, quality, quality_by


def _scores(n: int, seed: int, signal: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels at a 20% rate and scores that separate them by `signal` (0 = pure noise)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(float)
    logit = -1.4 + signal * (y - 0.2) + rng.normal(0, 1, n)
    return y, 1 / (1 + np.exp(-logit))


def test_a_good_model_gets_a_high_auc_with_an_interval_around_it():
    y, p = _scores(2000, 0, signal=2.0)
    q = quality(y, p, threshold=0.25, resamples=100)
    assert q["status"] == OK
    auc = q["roc_auc"]
    assert 0.8 < auc["value"] < 0.95
    assert auc["low"] < auc["value"] < auc["high"]
    assert auc["high"] - auc["low"] < 0.08  # 2000 rows: a narrow interval
    assert q["pr_auc"]["value"] > q["positive_rate"]  # better than the base rate
    assert 0 < q["brier"]["value"] < 0.2


def test_noise_scores_an_auc_near_half_and_the_interval_covers_it():
    y, p = _scores(1500, 1, signal=0.0)
    q = quality(y, p, threshold=0.25, resamples=200)
    assert q["roc_auc"]["low"] < 0.5 < q["roc_auc"]["high"]


def test_precision_and_recall_at_the_served_threshold_are_counted_exactly():
    y = np.array([1, 1, 0, 0] * 50, dtype=float)
    p = np.array([0.9, 0.1, 0.8, 0.2] * 50)
    q = quality(y, p, threshold=0.5, resamples=20)
    assert q["precision"] == pytest.approx(0.5)  # answered delayed: 0.9 (right), 0.8 (wrong)
    assert q["recall"] == pytest.approx(0.5)  # of the delayed: 0.9 caught, 0.1 missed
    assert q["predicted_positive_rate"] == pytest.approx(0.5)


def test_nothing_answered_delayed_has_no_precision_rather_than_a_division_error():
    y, p = _scores(500, 2, signal=1.0)
    q = quality(y, p * 0.01, threshold=0.9, resamples=20)
    assert q["precision"] is None and q["recall"] == 0.0


@pytest.mark.parametrize(
    ("y", "why"),
    [
        (np.array([]), "0 labelled"),
        (np.array([0.0, 1.0] * 20), "40 labelled"),
        (np.zeros(500), "0 delayed"),
        (np.r_[np.ones(5), np.zeros(495)], "5 delayed"),
    ],
)
def test_too_little_data_says_so(y, why):
    q = quality(y, np.full(len(y), 0.3), threshold=0.25)
    assert q["status"] == NOT_ENOUGH_DATA
    assert why in q["reason"]
    assert "roc_auc" not in q


def test_unlabelled_rows_are_left_out_not_counted_as_on_time():
    y, p = _scores(400, 3, signal=2.0)
    with_gaps = np.r_[y, np.full(300, np.nan)]
    q = quality(with_gaps, np.r_[p, np.full(300, 0.9)], threshold=0.25, resamples=20)
    assert q["n"] == 400
    assert q["roc_auc"]["value"] == pytest.approx(quality(y, p, threshold=0.25, resamples=20)["roc_auc"]["value"])


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        quality(np.zeros(3), np.zeros(4), threshold=0.5)


def test_calibration_of_a_calibrated_model_is_small_and_of_a_shifted_one_large():
    rng = np.random.default_rng(4)
    p = rng.random(20000)
    y = (rng.random(20000) < p).astype(float)
    assert calibration(y, p)["ece"] < 0.02
    assert calibration(y, np.clip(p + 0.3, 0, 1))["ece"] > 0.2


def test_by_segment_reports_each_value_and_small_ones_as_not_enough():
    y, p = _scores(1200, 5, signal=2.0)
    frame = pd.DataFrame({"delayed": y, "probability": p, "origin": ["EWR"] * 1000 + ["JFK"] * 150 + ["LGA"] * 50})
    by = quality_by(frame, "origin", threshold=0.25, resamples=20)
    assert set(by) == {"EWR", "JFK", "LGA"}
    assert by["EWR"]["status"] == OK and by["EWR"]["n"] == 1000
    assert by["LGA"]["status"] == NOT_ENOUGH_DATA


def test_the_vectorised_scores_equal_scikit_learns_with_ties():
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    from monitoring.quality import weighted_scores

    rng = np.random.default_rng(6)
    y = (rng.random(3000) < 0.25).astype(float)
    p = np.round(np.clip(0.25 + 0.3 * (y - 0.25) + rng.normal(0, 0.2, 3000), 0, 1), 2)  # many ties
    got = weighted_scores(y, p, np.ones((1, len(y))))
    assert got["roc_auc"][0] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert got["pr_auc"][0] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert got["brier"][0] == pytest.approx(brier_score_loss(y, p), abs=1e-12)


def test_a_weight_vector_is_the_same_as_repeating_rows():
    from sklearn.metrics import roc_auc_score

    from monitoring.quality import weighted_scores

    y, p = _scores(300, 7, signal=1.5)
    counts = np.random.default_rng(8).integers(0, 3, len(y))
    repeated = np.repeat(np.arange(len(y)), counts)
    got = weighted_scores(y, p, counts[None, :].astype(float))
    assert got["roc_auc"][0] == pytest.approx(roc_auc_score(y[repeated], p[repeated]), abs=1e-12)
