"""Hyper-parameter search: nested MLflow runs, a choice made on validation only, test untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from training_frames import synthetic_training_frame, training_settings

from features.contract import LABEL
from training.split import local_days, time_split
from training.tracking import client
from training.tune import search

CONFIGS = [
    {"hidden_units": 8, "learning_rate": 1e-6},  # cannot learn in 2 epochs: must not be chosen
    {"hidden_units": 32, "learning_rate": 5e-3},
    {"hidden_units": 16, "learning_rate": 5e-3},
]


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return synthetic_training_frame(days=16, flights_per_day=200, seed=5)


@pytest.fixture(scope="module")
def tuned(small: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, object]:
    settings = training_settings(tmp_path_factory.mktemp("tune") / "home", epochs=2)
    return search(settings, small, CONFIGS), settings


def test_each_config_is_a_nested_run_under_one_parent(tuned: tuple[dict, object]) -> None:
    result, settings = tuned
    c = client(settings)
    parent = c.get_run(result["parent_run_id"])
    children = c.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{result['parent_run_id']}'")
    assert sorted(r.info.run_id for r in children) == sorted(t["run_id"] for t in result["trials"])
    for run in children:
        assert run.data.tags["role"] == "tune" and "val_auc" in run.data.metrics
        assert not any(k.startswith("test_") for k in run.data.metrics)
    assert parent.data.tags["tune.chosen_run_id"] in {t["run_id"] for t in result["trials"]}
    assert parent.data.tags["tune.justification"] == result["justification"]


def test_the_highest_validation_auc_wins_and_the_reason_says_so(tuned: tuple[dict, object]) -> None:
    result, _ = tuned
    aucs = [t["val_auc"] for t in result["trials"]]
    assert result["val_auc"] == max(aucs) and result["chosen"] == result["trials"][int(np.argmax(aucs))]["config"]
    assert result["chosen"]["learning_rate"] == 5e-3 and result["chosen"]["ensemble_size"] == 1
    assert result["justification"].startswith(f"highest validation AUC {max(aucs):.4f}")
    assert result["justification"].endswith("test window untouched")


def test_the_test_window_cannot_change_the_choice(
    small: pd.DataFrame, tuned: tuple[dict, object], tmp_path: Path
) -> None:
    result, settings = tuned
    # Scramble everything in the test window (labels and features): if search looked at it, the
    # validation scores or the choice would move.
    test_start = time_split(small, settings).boundaries["test_start"]
    in_test = (local_days(small).astype(str) >= test_start).to_numpy()
    scrambled = small.copy()
    rng = np.random.default_rng(1)
    scrambled.loc[in_test, LABEL] = rng.permutation(scrambled.loc[in_test, LABEL].to_numpy())
    scrambled.loc[in_test, "wx_temp"] = rng.normal(90, 5, in_test.sum())
    again = search(training_settings(tmp_path / "home", epochs=2), scrambled, CONFIGS)
    assert [t["val_auc"] for t in again["trials"]] == [t["val_auc"] for t in result["trials"]]
    assert again["chosen"] == result["chosen"]


def test_an_unknown_key_is_refused_before_any_training(tmp_path: Path, small: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="hidden_unit"):
        search(training_settings(tmp_path / "home"), small, [{"hidden_unit": 64}])
