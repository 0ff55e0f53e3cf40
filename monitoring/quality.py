"""How good the served model was, once outcomes arrived: metrics with bootstrap intervals.

    from monitoring.quality import quality, quality_by
    quality(y, p, threshold=0.27)           # {"status": "ok", "n": ..., "roc_auc": {"value", "low", "high"}, ...}
    quality_by(labelled, "origin", threshold=0.27)

Pure functions over arrays: `y` is 0/1 (the flight left 15+ minutes late), `p` the probability the
model answered, `threshold` the decision threshold it served with. Too few labelled rows (or only
one class) give {"status": "not_enough_data", "reason": ...}: a report, never a crash, never an
alarm. Intervals are percentile bootstraps over flights (resampling rows with replacement).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

OK = "ok"
NOT_ENOUGH_DATA = "not_enough_data"

# Below these, an AUC's interval is so wide that any verdict on it is noise (at 100 flights and a
# 20% positive rate, a 95% interval on ROC-AUC is about +-0.12).
MIN_LABELLED = 100
MIN_PER_CLASS = 10
CALIBRATION_BINS = 10


def _interval(samples: np.ndarray, value: float) -> dict[str, float | None]:
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return {"value": value, "low": None, "high": None}
    low, high = np.percentile(finite, [2.5, 97.5])
    return {"value": value, "low": float(low), "high": float(high)}


def calibration(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Reliability table over equal-width score bins, and the expected calibration error (ECE):
    the row-weighted mean gap between the mean score and the observed delay rate of each bin."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    table = []
    ece = 0.0
    for b in range(bins):
        mask = which == b
        n = int(mask.sum())
        if n == 0:
            continue
        mean_p, rate = float(p[mask].mean()), float(y[mask].mean())
        ece += n / len(y) * abs(mean_p - rate)
        table.append({"low": float(edges[b]), "high": float(edges[b + 1]), "n": n, "mean_score": mean_p, "rate": rate})
    return {"ece": ece, "bins": table}


def _group_sums(weights: np.ndarray, y: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per resample (row of `weights`) and per tied-score group: weighted positives and negatives."""
    pos = np.add.reduceat(weights * y, starts, axis=1)
    neg = np.add.reduceat(weights * (1.0 - y), starts, axis=1)
    return pos, neg


def weighted_scores(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """ROC-AUC, average precision and Brier score for each row of `weights` (rows x len(y)).

    A bootstrap resample is a weight vector (how often each flight was drawn), so all resamples are
    scored at once over one sort. Ties count half in ROC-AUC and form one step in average
    precision, as in scikit-learn; with weights of 1 the values equal sklearn's (tested).
    """
    order = np.argsort(-p, kind="mergesort")  # descending score
    y_s, p_s, w_s = y[order], p[order], weights[:, order]
    starts = np.r_[0, np.flatnonzero(np.diff(p_s)) + 1]  # first index of each tied-score group
    pos, neg = _group_sums(w_s, y_s, starts)
    total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
    # ROC-AUC: each positive beats the negatives in lower groups, ties count half.
    neg_below = total_neg[:, None] - np.cumsum(neg, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (pos * (neg_below + 0.5 * neg)).sum(axis=1) / (total_pos * total_neg)
        tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        ap = (precision * pos).sum(axis=1) / total_pos
        brier = (w_s * (p_s - y_s) ** 2).sum(axis=1) / w_s.sum(axis=1)
    one_class = (total_pos == 0) | (total_neg == 0)  # no AUC: left out, not counted as 0.5
    auc[one_class], ap[one_class] = np.nan, np.nan
    return {"roc_auc": auc, "pr_auc": ap, "brier": brier}


def quality(
    y: np.ndarray | pd.Series,
    p: np.ndarray | pd.Series,
    *,
    threshold: float,
    resamples: int = 200,
    seed: int = 0,
    min_labelled: int = MIN_LABELLED,
) -> dict[str, Any]:
    """ROC-AUC, PR-AUC and Brier (each with a 95% bootstrap interval), precision and recall at the
    served threshold, the observed vs predicted positive rate, and calibration."""
    y_arr = np.asarray(y, dtype=np.float64)
    p_arr = np.asarray(p, dtype=np.float64)
    if y_arr.shape != p_arr.shape:
        raise ValueError(f"labels and scores differ in length: {y_arr.shape} vs {p_arr.shape}")
    keep = np.isfinite(y_arr) & np.isfinite(p_arr)
    y_arr, p_arr = y_arr[keep], p_arr[keep]
    n, positives = len(y_arr), int(y_arr.sum())
    base = {"n": n, "positives": positives, "threshold": threshold}
    if n < min_labelled:
        return {"status": NOT_ENOUGH_DATA, "reason": f"{n} labelled predictions (< {min_labelled})", **base}
    if min(positives, n - positives) < MIN_PER_CLASS:
        return {
            "status": NOT_ENOUGH_DATA,
            "reason": f"{positives} delayed and {n - positives} on time (each class needs >= {MIN_PER_CLASS})",
            **base,
        }

    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    point = weighted_scores(y_arr, p_arr, np.ones((1, n)))
    boot = weighted_scores(y_arr, p_arr, draws)

    predicted = p_arr >= threshold
    tp = int((predicted & (y_arr == 1)).sum())
    return {
        "status": OK,
        **base,
        **{name: _interval(boot[name], float(point[name][0])) for name in ("roc_auc", "pr_auc", "brier")},
        "precision": tp / int(predicted.sum()) if predicted.any() else None,
        "recall": tp / positives,
        "positive_rate": positives / n,
        "predicted_positive_rate": float(predicted.mean()),
        "mean_score": float(p_arr.mean()),
        "calibration": calibration(y_arr, p_arr),
    }


def quality_by(
    labelled: pd.DataFrame, column: str, *, threshold: float, resamples: int = 100, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """`quality` per value of `column` (e.g. origin, carrier) of a frame with `delayed` and
    `probability`; small segments report not_enough_data like any other window."""
    out: dict[str, dict[str, Any]] = {}
    for value, part in labelled.groupby(column, sort=True):
        out[str(value)] = quality(
            part["delayed"], part["probability"], threshold=threshold, resamples=resamples, seed=seed
        )
    return out
