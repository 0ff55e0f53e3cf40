"""Metrics, the decision threshold, and the paired bootstrap that says whether a gap is real.

ROC-AUC ranks (is a delayed flight scored above an on-time one?), PR-AUC focuses on the rarer
positive class, log loss and the Brier score judge the probabilities themselves. The threshold
turns probabilities into yes/no; it is chosen on validation and only *reported* on test, so the
test numbers stay an honest estimate for the later window.

A single test AUC is one draw: on two weeks of flights the network and logistic regression are
often a few thousandths apart, which is inside the noise. `paired_bootstrap` resamples the *same*
test rows for both models, so the difference's interval reflects only which flights happened to
be in the window, not two independent samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
)

BOOTSTRAP_RESAMPLES = 1_000
BOOTSTRAP_SEED = 2013
_CHUNK = 100  # resamples per vectorized batch: (100, N) weights keep memory at a few MB per 1k rows


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """{"auc", "pr_auc", "log_loss", "brier", "positive_rate"} for labels y (0/1) and probabilities p."""
    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)  # log loss is infinite at 0 and 1
    if len(np.unique(y)) < 2:
        raise ValueError(f"need both classes to score, got only {np.unique(y)} in {len(y)} rows")
    return {
        "auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0.0, 1.0])),
        "brier": float(brier_score_loss(y, p)),
        "positive_rate": float(y.mean()),
    }


def choose_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability cut-off with the best F1 on (validation) labels y.

    Max F1 balances missed delays against false alarms without a cost model; with real costs
    (rebooking vs a needless alert) you would minimise expected cost instead.
    """
    precision, recall, thresholds = precision_recall_curve(np.asarray(y), np.asarray(p, dtype=np.float64))
    # precision/recall have one more entry than thresholds (the point recall=0); drop it.
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def at_threshold(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """{"precision", "recall", "f1", "alert_rate"} when predicting delayed for p >= threshold."""
    y = np.asarray(y).astype(bool)
    yes = np.asarray(p) >= threshold
    tp = float((yes & y).sum())
    precision = tp / max(float(yes.sum()), 1.0)
    recall = tp / max(float(y.sum()), 1.0)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {"precision": precision, "recall": recall, "f1": f1, "alert_rate": float(yes.mean())}


def weighted_aucs(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC-AUC of the same scores under many row weightings at once (ties count one half).

    A bootstrap resample is a weighting: row i drawn k times has weight k. Sorting once and
    summing weights per distinct score turns each AUC into two cumulative sums, with no
    resampled copy of the data and no sort per resample (roc_auc_score in a loop does both).

    Args:
        y: (N,) 0/1 labels.
        p: (N,) scores.
        weights: (B, N) non-negative row weights, one row per resample.
    Returns:
        (B,) AUCs; NaN where a weighting has no positives or no negatives.
    """
    order = np.argsort(p, kind="stable")
    sorted_p, sorted_y = np.asarray(p)[order], np.asarray(y)[order].astype(bool)
    w = np.asarray(weights, dtype=np.float64)[:, order]  # (B, N)
    starts = np.flatnonzero(np.r_[True, sorted_p[1:] != sorted_p[:-1]])  # first row of each tie group
    pos = np.add.reduceat(np.where(sorted_y, w, 0.0), starts, axis=1)  # (B, G) positive weight per score
    neg = np.add.reduceat(np.where(sorted_y, 0.0, w), starts, axis=1)  # (B, G)
    neg_below = np.cumsum(neg, axis=1) - neg
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (neg_below + 0.5 * neg)).sum(axis=1) / (n_pos * n_neg)


def bootstrap_weights(n: int, resamples: int, seed: int) -> list[np.ndarray]:
    """Row counts of `resamples` bootstrap samples of n rows, in (<=_CHUNK, n) int32 batches.

    The same seed gives the same resamples, so every model is scored on identical draws.
    """
    rng = np.random.default_rng(seed)
    batches = []
    for start in range(0, resamples, _CHUNK):
        b = min(_CHUNK, resamples - start)
        draws = rng.integers(0, n, size=(b, n)) + n * np.arange(b)[:, None]  # row offsets per resample
        batches.append(np.bincount(draws.ravel(), minlength=b * n).reshape(b, n).astype(np.int32))
    return batches


def bootstrap_aucs(
    y: np.ndarray, p: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> np.ndarray:
    """(resamples,) AUCs of p on bootstrap resamples of the rows (NaN-free unless a class vanishes)."""
    return np.concatenate([weighted_aucs(y, p, w) for w in bootstrap_weights(len(y), resamples, seed)])


def auc_interval(
    y: np.ndarray, p: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Percentile 95% bootstrap confidence interval of the ROC-AUC."""
    aucs = bootstrap_aucs(y, p, resamples, seed)
    low, high = np.nanpercentile(aucs, [2.5, 97.5])
    return float(low), float(high)


@dataclass(frozen=True)
class Comparison:
    """Model minus baseline on the same test rows: AUC difference, its 95% CI and p-value.

    p_value is one-sided for "the model is better": the share of resamples where the difference
    is <= 0 (with the +1 correction, so it is never exactly 0). A loss shows as a negative
    difference and a p-value near 1.
    """

    baseline: str
    auc_diff: float  # mean over resamples
    ci_low: float
    ci_high: float
    p_value: float
    resamples: int

    def metrics(self, key: str) -> dict[str, float]:
        """MLflow metrics named `vs_<key>.auc_diff`, `.ci_low`, `.ci_high`, `.p_value`."""
        return {
            f"vs_{key}.auc_diff": self.auc_diff,
            f"vs_{key}.ci_low": self.ci_low,
            f"vs_{key}.ci_high": self.ci_high,
            f"vs_{key}.p_value": self.p_value,
        }

    def sentence(self) -> str:
        """One plain sentence; a loss or a tie is said as such."""
        # No resample went the other way: p = 1/(B+1), i.e. below the test's resolution of 1/B.
        p = f"p<{1 / self.resamples:.3g}" if self.p_value <= 1 / (1 + self.resamples) else f"p={self.p_value:.3f}"
        detail = f"(95% CI {self.ci_low:+.4f}..{self.ci_high:+.4f}, one-sided {p})"
        if self.ci_low > 0:
            return f"beats {self.baseline} by {self.auc_diff:.4f} AUC {detail}"
        if self.ci_high < 0:
            return f"loses to {self.baseline} by {-self.auc_diff:.4f} AUC {detail}"
        verb = "ahead of" if self.auc_diff >= 0 else "behind"
        return (
            f"is not distinguishable from {self.baseline}: {abs(self.auc_diff):.4f} AUC {verb} it, "
            f"the interval includes 0 {detail}"
        )


def paired_bootstrap(
    y: np.ndarray,
    p_model: np.ndarray,
    p_baseline: np.ndarray,
    baseline: str,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Comparison:
    """Paired bootstrap of AUC(model) - AUC(baseline): both scored on each resample of the same rows.

    Args:
        y: (N,) 0/1 test labels.
        p_model, p_baseline: (N,) scores of the two models on those rows.
        baseline: the baseline's readable name (used in the sentence).
        resamples, seed: number of resamples and their seed (fixed: reruns give the same numbers).
    Returns:
        A Comparison (mean difference, percentile 95% CI, one-sided p-value).
    """
    return compare_bootstraps(
        bootstrap_aucs(y, p_model, resamples, seed), bootstrap_aucs(y, p_baseline, resamples, seed), baseline
    )


def compare_bootstraps(model_aucs: np.ndarray, baseline_aucs: np.ndarray, baseline: str) -> Comparison:
    """The Comparison from two models' AUCs on the *same* resamples (bootstrap_aucs, same seed).

    Scoring each model once and differencing is what makes the test paired and cheap: with three
    baselines the network's resamples are scored once, not three times.
    """
    diffs = np.asarray(model_aucs) - np.asarray(baseline_aucs)
    diffs = diffs[~np.isnan(diffs)]
    low, high = np.percentile(diffs, [2.5, 97.5])
    p_value = (1 + int((diffs <= 0).sum())) / (1 + len(diffs))
    return Comparison(baseline, float(diffs.mean()), float(low), float(high), float(p_value), len(diffs))
