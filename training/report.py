"""The evaluation report of one model run: slices, error analysis, plots and the model card.

    report = build_report(ReportInputs(...))      # pure: numbers in, files (as bytes) out
    report.artifacts["model_card.md"], report.artifacts["evaluation/slice_metrics.csv"], ...

train.py logs every entry of `report.artifacts` to the model run under the same relative path.
Everything here is computed on the test window only; nothing feeds back into training or the
threshold (that is chosen on validation), so the report describes the model, it does not tune it.

Plots use matplotlib's object API (`Figure` + savefig), which renders with Agg and never touches
pyplot's global state or a display: safe in Airflow workers and tests, ~0.1 s a figure.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve

from features.contract import MODEL_INPUTS
from training.evaluate import Comparison, binary_metrics

# Slices a regression could hide in: an airport, an airline, a month of the window.
SLICE_COLUMNS: tuple[str, ...] = ("origin", "carrier", "sched_month")
# Below this many labelled rows a slice AUC swings by +-0.05 or more: reported, not computed.
MIN_SLICE_ROWS = 50
CONFIDENT_ERRORS = 20  # most confident false positives and false negatives listed
WORST_SLICES = 5
CALIBRATION_BINS = 10
# Identify the flight in the error listing, next to the model's inputs.
_KEY_COLUMNS: tuple[str, ...] = ("carrier", "flight", "origin", "dest", "tailnum", "sched_dep_local", "dep_delay")

MODEL_CARD = "model_card.md"
SLICES_CSV = "evaluation/slice_metrics.csv"
ERRORS_JSON = "evaluation/error_analysis.json"
ROC_PR_PNG = "evaluation/roc_pr_curves.png"
CALIBRATION_PNG = "evaluation/calibration.png"


@dataclass
class ReportInputs:
    """What the report needs from a training run (all on the test window unless named otherwise)."""

    test: pd.DataFrame  # raw test rows: flight keys, MODEL_INPUTS, label
    y: np.ndarray  # (N,) 0/1 test labels
    scores: dict[str, np.ndarray]  # "network" first, then each baseline key -> (N,) probabilities
    names: dict[str, str]  # score key -> readable name
    threshold: float  # chosen on validation
    metrics: dict[str, float]  # the model run's metrics (test_auc, test_auc_ci_low, ...)
    comparisons: dict[str, Comparison]  # baseline key -> network minus baseline
    facts: dict[str, Any]  # split summary, windows, feature service, code version, ...


@dataclass
class Report:
    artifacts: dict[str, bytes] = field(default_factory=dict)  # run-relative path -> file bytes
    summary: dict[str, Any] = field(default_factory=dict)  # JSON-ready, for the result dict


def slice_metrics(
    test: pd.DataFrame,
    y: np.ndarray,
    p: np.ndarray,
    columns: tuple[str, ...] = SLICE_COLUMNS,
    min_rows: int = MIN_SLICE_ROWS,
) -> pd.DataFrame:
    """Metrics per value of each slice column; thin or one-class slices are reported, not scored.

    Args:
        test: test rows holding `columns`.
        y: (N,) 0/1 labels; p: (N,) probabilities, aligned with `test`.
        columns: slice columns.
        min_rows: fewer labelled rows than this -> status "too few rows", metrics empty.
    Returns:
        One row per (slice, value): rows, positives, positive_rate, mean_probability, status
        ("ok", "too few rows (< min_rows)", "single class") and auc, pr_auc, log_loss, brier
        (NaN unless status is "ok"), sorted by slice then value.
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    out = []
    for column in columns:
        values = test[column].astype(str).to_numpy()
        for value in sorted(set(values)):
            mask = values == value
            ys, ps = y[mask], p[mask]
            row: dict[str, Any] = {
                "slice": column,
                "value": value,
                "rows": int(mask.sum()),
                "positives": int(ys.sum()),
                "positive_rate": float(ys.mean()),
                "mean_probability": float(ps.mean()),
            }
            if mask.sum() < min_rows:
                row["status"] = f"too few rows (< {min_rows})"
            elif len(np.unique(ys)) < 2:
                row["status"] = "single class"
            else:
                row["status"] = "ok"
                scored = binary_metrics(ys, ps)
                row.update({k: scored[k] for k in ("auc", "pr_auc", "log_loss", "brier")})
            out.append(row)
    columns_out = [
        "slice",
        "value",
        "rows",
        "positives",
        "positive_rate",
        "mean_probability",
        "status",
        "auc",
        "pr_auc",
        "log_loss",
        "brier",
    ]
    return pd.DataFrame(out).reindex(columns=columns_out)


def confident_errors(
    test: pd.DataFrame, y: np.ndarray, p: np.ndarray, threshold: float, n: int = CONFIDENT_ERRORS
) -> dict[str, list[dict[str, Any]]]:
    """The n false positives with the highest and the n false negatives with the lowest probability.

    Returns:
        {"false_positives": [...], "false_negatives": [...]}: each a record with the flight's key
        columns, its model inputs, the label and the probability (NaN -> null).
    """
    y, p = np.asarray(y).astype(bool), np.asarray(p, dtype=float)
    yes = p >= threshold
    columns = [c for c in (*_KEY_COLUMNS, *MODEL_INPUTS) if c in test.columns]
    columns = list(dict.fromkeys(columns))  # carrier/origin/dest are both keys and inputs

    def records(mask: np.ndarray, most_confident_first: np.ndarray) -> list[dict[str, Any]]:
        idx = most_confident_first[mask[most_confident_first]][:n]
        rows = test.iloc[idx][columns].assign(delayed=y[idx].astype(int), probability=p[idx])
        return json.loads(rows.to_json(orient="records", date_format="iso"))

    by_p = np.argsort(-p, kind="stable")
    return {
        "false_positives": records(yes & ~y, by_p),
        "false_negatives": records(~yes & y, by_p[::-1]),
    }


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return buf.getvalue()


def roc_pr_png(y: np.ndarray, scores: dict[str, np.ndarray], names: dict[str, str]) -> bytes:
    """ROC and precision-recall curves of every model on the test window, side by side."""
    fig = Figure(figsize=(10, 4.5))
    roc_ax, pr_ax = fig.subplots(1, 2)
    for key, p in scores.items():
        fpr, tpr, _ = roc_curve(y, p)
        precision, recall, _ = precision_recall_curve(y, p)
        roc_ax.plot(fpr, tpr, label=names[key], lw=1.5 if key == "network" else 1)
        pr_ax.plot(recall, precision, label=names[key], lw=1.5 if key == "network" else 1)
    roc_ax.plot([0, 1], [0, 1], ls=":", color="grey")
    roc_ax.set(title="ROC (test window)", xlabel="false positive rate", ylabel="true positive rate")
    pr_ax.axhline(float(np.mean(y)), ls=":", color="grey")
    pr_ax.set(title="Precision-recall (test window)", xlabel="recall", ylabel="precision")
    roc_ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def calibration_png(y: np.ndarray, scores: dict[str, np.ndarray], names: dict[str, str]) -> bytes:
    """Reliability diagram: mean predicted probability vs observed delay rate, in quantile bins."""
    fig = Figure(figsize=(5, 4.5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="perfectly calibrated")
    for key, p in scores.items():
        if np.ptp(p) == 0:  # a constant score has one bin: nothing to draw
            continue
        observed, predicted = calibration_curve(y, p, n_bins=CALIBRATION_BINS, strategy="quantile")
        ax.plot(predicted, observed, marker="o", ms=3, label=names[key])
    ax.set(title="Calibration (test window)", xlabel="mean predicted probability", ylabel="observed delay rate")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def _fmt(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.4f}"


def model_card(inputs: ReportInputs, slices: pd.DataFrame, worst: pd.DataFrame) -> str:
    """The markdown model card: what was trained on what, how good it is, and where it is weak."""
    f, m = inputs.facts, inputs.metrics
    split = f["split"]
    lines = [
        f"# Model card: {f['model_name']} (run {f.get('run_name', 'mlp')})",
        "",
        "Predicts P(departure delayed >= 15 min) for a 2013 NYC flight, 2 hours before scheduled "
        "departure, from weather at the origin, plane, carrier/route/origin performance and calendar features.",
        "",
        "## Data and split",
        f"- train {split['train_start']}..{split['train_end']} ({split['train_rows']} rows, "
        f"{split['train_positive_rate']:.1%} delayed)",
        f"- validation {split['validation_start']}..{split['validation_end']} ({split['validation_rows']} rows): "
        "early stopping and the decision threshold",
        f"- test {split['test_start']}..{split['test_end']} ({split['test_rows']} rows, "
        f"{split['test_positive_rate']:.1%} delayed): every number below",
        f"- cancelled flights (no label) left out: {split['dropped_unlabelled']}",
        f"- feature service `{f['feature_service']}` version `{f['feature_service_version']}`; "
        f"code `{f['code_version']}`",
        "",
        "## Test metrics",
        "| metric | network | " + " | ".join(inputs.names[k] for k in inputs.comparisons) + " |",
        "|---|---|" + "---|" * len(inputs.comparisons),
    ]
    for metric in ("auc", "pr_auc", "log_loss", "brier"):
        baselines = [_fmt(f["baseline_metrics"][k][f"test_{metric}"]) for k in inputs.comparisons]
        row = [_fmt(m[f"test_{metric}"]), *baselines]
        lines.append(f"| {metric} | " + " | ".join(row) + " |")
    lines += [
        "",
        f"ROC-AUC 95% bootstrap CI: {_fmt(m['test_auc_ci_low'])}..{_fmt(m['test_auc_ci_high'])} "
        f"({f['resamples']} resamples of the test rows).",
        "",
        "## Against the baselines (paired bootstrap of the AUC difference, same test rows)",
        *[f"- The network {c.sentence()}." for c in inputs.comparisons.values()],
        "",
        "## Decision threshold",
        f'p >= {inputs.threshold:.4f} means "delayed": the cut-off with the best F1 on the validation '
        "days (never on test). On test: "
        f"precision {_fmt(m['test_precision'])}, recall {_fmt(m['test_recall'])}, F1 {_fmt(m['test_f1'])}, "
        f"alerts on {m['test_alert_rate']:.1%} of flights.",
        "",
        "## Slices (test window)",
    ]
    for column in SLICE_COLUMNS:
        part = slices[slices["slice"] == column]
        ok = part[part["status"] == "ok"]
        skipped = part[part["status"] != "ok"]
        line = f"- {column}: {len(ok)} scored, AUC {_fmt(ok['auc'].min())}..{_fmt(ok['auc'].max())}"
        if len(skipped):
            pairs = zip(skipped["value"], skipped["status"], strict=True)
            line += "; not scored: " + ", ".join(f"{value} ({status})" for value, status in pairs)
        lines.append(line)
    lines.append(
        "- worst by AUC: "
        + (", ".join(f"{r.slice}={r.value} {r.auc:.3f} ({r.rows} rows)" for r in worst.itertuples()) or "none")
    )
    lines += [
        "",
        "Details: `evaluation/slice_metrics.csv`, `evaluation/error_analysis.json` (worst slices, the "
        f"{CONFIDENT_ERRORS} most confident false positives and negatives), `evaluation/*.png`.",
        "",
        "## Known limitations",
        "- Trained with pos_weight = negatives/positives: probabilities overstate delay (see the "
        "calibration plot and log loss vs the majority baseline). Use the threshold, not p = 0.5; "
        "recalibrate (isotonic on validation) before reading p as a probability.",
        "- One test window of a few weeks, one season: the CIs cover resampling of these flights, "
        "not a different season (Jan-Mar weather differs from summer on every column).",
        "- Only 2013 NYC departures (EWR, JFK, LGA). Unseen carriers/destinations fall into one "
        "out-of-vocabulary bucket; AA and MQ planes have no plane profile (missing in the data).",
        "- Weather is the origin's latest observation 2 h before departure: weather en route or at "
        "the destination, and air-traffic-control programs, are not seen.",
    ]
    return "\n".join(lines) + "\n"


def build_report(inputs: ReportInputs) -> Report:
    """Slice metrics, error analysis, ROC/PR and calibration plots and the model card, as files.

    Args:
        inputs: the run's test rows, labels, scores, threshold, metrics, comparisons and facts.
    Returns:
        Report: `artifacts` (run-relative path -> bytes) and a JSON-ready `summary` (slice counts,
        worst slices).
    """
    p = inputs.scores["network"]
    slices = slice_metrics(inputs.test, inputs.y, p)
    scored = slices[slices["status"] == "ok"]
    worst = scored.nsmallest(WORST_SLICES, "auc")
    errors = {
        "threshold": inputs.threshold,
        "worst_slices_by_auc": json.loads(worst.to_json(orient="records")),
        "not_scored_slices": json.loads(slices[slices["status"] != "ok"].to_json(orient="records")),
        **confident_errors(inputs.test, inputs.y, p, inputs.threshold),
    }
    artifacts = {
        SLICES_CSV: slices.to_csv(index=False, float_format="%.6g").encode(),
        ERRORS_JSON: json.dumps(errors, indent=1).encode(),
        ROC_PR_PNG: roc_pr_png(inputs.y, inputs.scores, inputs.names),
        CALIBRATION_PNG: calibration_png(inputs.y, inputs.scores, inputs.names),
        MODEL_CARD: model_card(inputs, slices, worst).encode(),
    }
    summary = {
        "slices_scored": int(len(scored)),
        "slices_not_scored": int(len(slices) - len(scored)),
        "worst_slices": [f"{r.slice}={r.value}: AUC {r.auc:.4f} ({r.rows} rows)" for r in worst.itertuples()],
    }
    return Report(artifacts, summary)
