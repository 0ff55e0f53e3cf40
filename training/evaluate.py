"""Metrics and the decision threshold.

ROC-AUC ranks (is a delayed flight scored above an on-time one?), PR-AUC focuses on the rarer
positive class, log loss judges the probabilities themselves. The threshold turns probabilities
into yes/no; it is chosen on validation and only *reported* on test, so the test numbers stay an
honest estimate for the later window.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, log_loss, precision_recall_curve, roc_auc_score


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """{"auc", "pr_auc", "log_loss", "positive_rate"} for labels y (0/1) and probabilities p."""
    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)  # log loss is infinite at 0 and 1
    if len(np.unique(y)) < 2:
        raise ValueError(f"need both classes to score, got only {np.unique(y)} in {len(y)} rows")
    return {
        "auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0.0, 1.0])),
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
