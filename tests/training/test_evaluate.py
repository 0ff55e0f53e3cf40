"""Evaluation: the fast bootstrap AUC, the paired comparison and its sentence, slices, errors, and
the report a real train_and_export run logs to MLflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from training_frames import training_settings

from flightpath.settings import Settings
from training.evaluate import (
    binary_metrics,
    bootstrap_weights,
    paired_bootstrap,
    weighted_aucs,
)
from training.report import MIN_SLICE_ROWS, confident_errors, slice_metrics
from training.tracking import client
from training.train import train_and_export


def labels_and_scores(n: int = 3_000, signal: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(y, p): ~25% positives; p = y * signal + noise, rounded so that ties occur."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.25).astype(float)
    return y, np.round(y * signal + rng.normal(0, 1, n), 1)


def test_weighted_auc_equals_roc_auc_on_the_resampled_rows_ties_included() -> None:
    y, p = labels_and_scores()
    assert len(np.unique(p)) < len(p) / 5  # plenty of ties
    assert weighted_aucs(y, p, np.ones((1, len(y))))[0] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    (counts,) = bootstrap_weights(len(y), resamples=3, seed=7)
    rows = [np.repeat(np.arange(len(y)), c) for c in counts]  # the resamples as explicit row lists
    expected = [roc_auc_score(y[r], p[r]) for r in rows]
    np.testing.assert_allclose(weighted_aucs(y, p, counts), expected, rtol=0, atol=1e-12)
    assert (counts.sum(axis=1) == len(y)).all()  # each resample has as many rows as the data


def test_a_model_compared_with_itself_ties_exactly() -> None:
    y, p = labels_and_scores()
    c = paired_bootstrap(y, p, p.copy(), "itself", resamples=200)
    assert c.auc_diff == 0 and c.ci_low == 0 and c.ci_high == 0 and c.p_value == 1.0
    assert c.sentence().startswith("is not distinguishable from itself")


def test_a_clear_win_and_a_clear_loss_are_both_said_plainly() -> None:
    y, strong = labels_and_scores(signal=2.0, seed=1)
    _, weak = labels_and_scores(signal=0.5, seed=2)
    win = paired_bootstrap(y, strong, weak, "the weak model", resamples=300)
    assert win.ci_low > 0 and win.p_value <= 1 / 301
    assert win.auc_diff == pytest.approx(roc_auc_score(y, strong) - roc_auc_score(y, weak), abs=0.01)
    assert win.sentence().startswith("beats the weak model by") and "p<0.00333" in win.sentence()
    # The same pair the other way round: the loss is not hidden behind an absolute value.
    loss = paired_bootstrap(y, weak, strong, "the strong model", resamples=300)
    assert loss.ci_high < 0 and loss.p_value == 1.0
    assert loss.sentence().startswith(f"loses to the strong model by {-loss.auc_diff:.4f} AUC")
    assert set(loss.metrics("strong")) == {
        "vs_strong.auc_diff",
        "vs_strong.ci_low",
        "vs_strong.ci_high",
        "vs_strong.p_value",
    }


def test_the_bootstrap_is_paired_and_reproducible() -> None:
    y, a = labels_and_scores(seed=3)
    b = a + np.random.default_rng(4).normal(0, 0.3, len(a))  # a noisy copy: strongly correlated with a
    first, again = paired_bootstrap(y, a, b, "b", seed=5), paired_bootstrap(y, a, b, "b", seed=5)
    assert first == again
    assert paired_bootstrap(y, a, b, "b", seed=6) != first
    # Pairing is what makes a small difference detectable: the CI of the difference is much
    # narrower than either model's own AUC interval would be.
    own = np.percentile(
        np.concatenate([weighted_aucs(y, a, w) for w in bootstrap_weights(len(y), 1_000, 5)]), [2.5, 97.5]
    )
    assert (first.ci_high - first.ci_low) < 0.5 * (own[1] - own[0])


def test_slices_report_thin_and_single_class_groups_instead_of_scoring_them() -> None:
    y, p = labels_and_scores(n=400, seed=8)
    test = pd.DataFrame({"origin": ["EWR"] * 300 + ["JFK"] * (MIN_SLICE_ROWS - 1) + ["LGA"] * 51})
    y[test["origin"].eq("LGA").to_numpy()] = 0.0  # one class only
    table = slice_metrics(test, y, p, columns=("origin",)).set_index("value")
    assert table.loc["EWR", "status"] == "ok"
    ewr = test["origin"].eq("EWR").to_numpy()
    assert table.loc["EWR", "auc"] == pytest.approx(binary_metrics(y[ewr], p[ewr])["auc"])
    assert table.loc["JFK", "status"] == f"too few rows (< {MIN_SLICE_ROWS})" and np.isnan(table.loc["JFK", "auc"])
    assert table.loc["LGA", "status"] == "single class" and np.isnan(table.loc["LGA", "auc"])
    assert table["rows"].sum() == len(test)


def test_confident_errors_are_the_most_confident_mistakes_with_their_features() -> None:
    y, p = labels_and_scores(n=500, seed=9)
    p = 1 / (1 + np.exp(-p))
    test = pd.DataFrame({"carrier": "EV", "flight": np.arange(500), "wx_visib": np.linspace(0, 10, 500)})
    errors = confident_errors(test, y, p, threshold=0.6, n=20)
    fp, fn = errors["false_positives"], errors["false_negatives"]
    is_fp, is_fn = (y == 0) & (p >= 0.6), (y == 1) & (p < 0.6)
    assert is_fp.sum() > 20 and is_fn.sum() > 20 and len(fp) == len(fn) == 20
    assert all(r["delayed"] == 0 and r["probability"] >= 0.6 for r in fp)
    assert all(r["delayed"] == 1 and r["probability"] < 0.6 for r in fn)
    assert [r["probability"] for r in fp] == sorted((r["probability"] for r in fp), reverse=True)
    assert [r["probability"] for r in fp][-1] == pytest.approx(np.sort(p[is_fp])[-20])
    assert [r["probability"] for r in fn] == pytest.approx(np.sort(p[is_fn])[:20])
    assert {"carrier", "flight", "wx_visib"} <= set(fp[0])


@pytest.fixture(scope="module")
def trained(training_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, Any]]:
    settings = training_settings(tmp_path_factory.mktemp("evaluate"))
    return settings, train_and_export(settings, training_frame)


def test_every_baseline_is_its_own_run_with_the_same_metrics(trained: tuple[Settings, dict[str, Any]]) -> None:
    settings, result = trained
    json.dumps(result)
    c = client(settings)
    model_run = c.get_run(result["run_id"])
    assert set(result["baseline_run_ids"]) == {"majority", "logreg", "gbdt"}
    assert result["baseline_run_id"] == result["baseline_run_ids"]["logreg"]
    for key, run_id in result["baseline_run_ids"].items():
        run = c.get_run(run_id)
        assert run.data.tags["role"] == "baseline" and run.data.tags["baseline"] == key
        assert run.data.tags["test_window"] == model_run.data.tags["test_window"]
        assert run.data.params["test_rows"] == model_run.data.params["test_rows"]  # same split
        # The same test metrics as the model run logs for itself.
        model_test = {k for k in model_run.data.metrics if k.startswith("test_")}
        assert model_test <= set(run.data.metrics), key
    majority = c.get_run(result["baseline_run_ids"]["majority"]).data.metrics
    assert majority["test_auc"] == 0.5
    # The majority baseline knows only the base rate: its Brier score is the test variance, up to
    # the gap between train and test positive rates.
    test_rate = result["split"]["test_positive_rate"]
    assert majority["test_brier"] == pytest.approx(test_rate * (1 - test_rate), abs=0.01)


def test_comparisons_are_logged_and_the_sentences_match_the_numbers(
    trained: tuple[Settings, dict[str, Any]],
) -> None:
    settings, result = trained
    metrics = client(settings).get_run(result["run_id"]).data.metrics
    m = result["metrics"]
    assert m["test_auc_ci_low"] < m["test_auc"] < m["test_auc_ci_high"]
    for key, comparison in result["comparisons"].items():
        for field in ("auc_diff", "ci_low", "ci_high", "p_value"):
            assert metrics[f"vs_{key}.{field}"] == pytest.approx(comparison[field])
        assert comparison["ci_low"] <= comparison["auc_diff"] <= comparison["ci_high"]
        # The mean paired difference is close to the plain difference of the two test AUCs.
        test_auc_b = result["baselines"][key]["metrics"]["test_auc"]
        assert comparison["auc_diff"] == pytest.approx(m["test_auc"] - test_auc_b, abs=0.01)
        sentence = comparison["sentence"]
        if comparison["ci_low"] > 0:
            assert sentence.startswith(f"The network beats {comparison['baseline']} by")
        elif comparison["ci_high"] < 0:
            assert sentence.startswith(f"The network loses to {comparison['baseline']} by")
        else:
            assert "is not distinguishable" in sentence
        assert sentence in result["comparison_sentences"]
    assert result["comparisons"]["majority"]["ci_low"] > 0.1  # the network learnt something


def test_the_run_carries_the_report_and_the_model_card(
    trained: tuple[Settings, dict[str, Any]], tmp_path: Path
) -> None:
    settings, result = trained
    assert result["model_card"] == f"runs:/{result['run_id']}/model_card.md"
    folder = Path(
        mlflow.artifacts.download_artifacts(
            run_id=result["run_id"], dst_path=str(tmp_path), tracking_uri=settings.mlflow_tracking_uri
        )
    )
    for relative in result["evaluation_artifacts"]:
        assert (folder / relative).stat().st_size > 0, relative
    for png in folder.glob("evaluation/*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    slices = pd.read_csv(folder / "evaluation/slice_metrics.csv")
    assert set(slices["slice"]) == {"origin", "carrier", "sched_month"}
    assert slices["rows"].groupby(slices["slice"]).sum().eq(result["split"]["test_rows"]).all()
    errors = json.loads((folder / "evaluation/error_analysis.json").read_text())
    assert len(errors["false_positives"]) == len(errors["false_negatives"]) == 20
    assert len(errors["worst_slices_by_auc"]) == 5

    card = (folder / "model_card.md").read_text()
    split = result["split"]
    for fact in (
        f"{split['train_start']}..{split['train_end']}",
        f"{split['test_start']}..{split['test_end']}",
        settings.feature_service,
        f"{result['threshold']:.4f}",
        "validation",
        "## Known limitations",
        *[s.removeprefix("The network ") for s in result["comparison_sentences"]],
    ):
        assert fact in card, fact
