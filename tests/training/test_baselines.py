"""The baselines: majority class (the floor), and gradient-boosted trees (the strong one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from training_frames import training_settings

from features.contract import CATEGORICAL_FEATURES, LABEL, NUMERIC_FEATURES
from training.baselines import (
    fit_gbdt_baseline,
    fit_logistic_baseline,
    fit_majority_baseline,
    predict_baseline,
)
from training.evaluate import binary_metrics
from training.split import Split, time_split


@pytest.fixture(scope="module")
def split(training_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Split:
    return time_split(training_frame, training_settings(tmp_path_factory.mktemp("baselines")))


def test_majority_predicts_the_train_positive_rate_and_ranks_nothing(split: Split) -> None:
    model = fit_majority_baseline(split.train, split.train[LABEL].to_numpy())
    p = predict_baseline(model, split.test)
    np.testing.assert_allclose(p, split.train[LABEL].mean())
    assert binary_metrics(split.test[LABEL].to_numpy(), p)["auc"] == 0.5


def test_gbdt_learns_the_non_linear_signal(split: Split) -> None:
    y_train, y_test = split.train[LABEL].to_numpy(), split.test[LABEL].to_numpy()
    gbdt = binary_metrics(y_test, predict_baseline(fit_gbdt_baseline(split.train, y_train, 0), split.test))
    logreg = binary_metrics(y_test, predict_baseline(fit_logistic_baseline(split.train, y_train, 0), split.test))
    assert gbdt["auc"] > 0.72
    # Trees represent "cold AND wet" and "EV at EWR", which a linear model cannot; unweighted,
    # their probabilities also stay near the base rate (a much better log loss than balanced logreg).
    assert gbdt["auc"] > logreg["auc"] and gbdt["log_loss"] < logreg["log_loss"]


def test_gbdt_is_reproducible_and_takes_missing_and_unseen_values(split: Split, tmp_path: Path) -> None:
    y = split.train[LABEL].to_numpy()
    model = fit_gbdt_baseline(split.train, y, seed=1)
    again = fit_gbdt_baseline(split.train, y, seed=1)
    rows = split.test.head(50).copy()
    np.testing.assert_array_equal(predict_baseline(model, rows), predict_baseline(again, rows))

    odd = rows.copy()
    odd[list(NUMERIC_FEATURES)] = np.nan
    odd[list(CATEGORICAL_FEATURES)] = ["ZZ", "XXX", "NOWHERE"]  # never seen in train
    p = predict_baseline(model, odd)
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    # Unseen categories are one "missing" value to the trees: any two unseen codes score alike.
    other = odd.assign(carrier="QQ", dest="ELSEWHERE")
    np.testing.assert_array_equal(predict_baseline(model, other), p)
