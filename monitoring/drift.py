"""Data drift between two windows of model inputs: an Evidently report plus a small summary.

    from monitoring.drift import drift_report
    summary = drift_report(reference_df, current_df, out_dir, "drift_2013-01-01_2013-03-31")

Reference is the window the model was trained on; current is a later window. Every name in
`contract.MODEL_INPUTS` is compared (numerics and categoricals declared explicitly, never guessed
from dtypes). Two files land in `out_dir`, each written to a temporary file and renamed:

    <name>.html   Evidently's self-contained report (~4 MB), for a person
    <name>.json   {"summary": <what this function returns>, "evidently": <metrics + tests>}, for code

What the per-column score means depends on the test Evidently picks, and it picks by size: with
more than 1,000 reference rows a distance (Wasserstein for numerics, Jensen-Shannon for categoricals
and numerics with <= 5 distinct values; higher = more drift, drifted at >= 0.1), with fewer a
p-value (KS / chi-square / z-test; lower = more drift, drifted below 0.05). The summary records the
method and threshold of each column, and "drifted" is Evidently's own verdict, so nobody has to
remember which way a score points.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
import warnings
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contract import CATEGORICAL_FEATURES, LABEL, MODEL_INPUTS, NUMERIC_FEATURES
from flightpath.atomic import write_text, write_with

# Share of model inputs that must drift before we call the window drifted; the default of
# settings.drift_alert_share (monitoring/NOTES.md): 0.3 of the 25 inputs = 8 columns. Lower and
# seasonal weather alone trips it every month; higher and a broken feed can hide.
DRIFT_ALERT_SHARE = 0.3


def _check_frame(df: pd.DataFrame, which: str) -> None:
    """Refuse inputs the comparison would be meaningless on, naming what is wrong."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{which} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in MODEL_INPUTS if c not in df.columns]
    if missing:
        raise ValueError(f"{which} frame lacks model input column(s): {', '.join(missing)}")
    if df.empty:
        raise ValueError(f"{which} frame is empty (0 rows): there is nothing to compare")
    wrong = [c for c in NUMERIC_FEATURES if not pd.api.types.is_numeric_dtype(df[c])]
    if wrong:
        raise ValueError(f"{which} frame has non-numeric numeric feature column(s): {', '.join(wrong)}")


def _model_inputs(df: pd.DataFrame) -> pd.DataFrame:
    """Only the contract's columns, numerics as float, categoricals as object with None for missing."""
    out = df[list(MODEL_INPUTS)].copy()
    for c in NUMERIC_FEATURES:
        out[c] = out[c].astype("float64")
    for c in CATEGORICAL_FEATURES:
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out.reset_index(drop=True)


def label_rate(df: pd.DataFrame) -> dict[str, Any]:
    """Share of delayed flights among rows that already have a label.

    Labels arrive late (a flight's outcome is known only after it departs), and cancelled flights
    never get one, so unlabelled rows are left out rather than counted as on time.
    A frame without the label column (e.g. a prediction log) reports 0 labelled rows.
    """
    if LABEL not in df.columns:
        return {"labelled_rows": 0, "rate": None}
    labels = pd.to_numeric(df[LABEL], errors="coerce").dropna()
    return {"labelled_rows": int(len(labels)), "rate": float(labels.mean()) if len(labels) else None}


def _jsonable(obj: Any) -> Any:
    """numpy scalars -> Python, NaN/inf -> None (strict JSON has no NaN), enums -> their value."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Enum):
        return _jsonable(obj.value)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (dt.date, Path)):
        return str(obj)
    return obj


def _empty_columns(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, str]:
    """Columns with no value at all in a window: Evidently cannot test them (it raises), so we decide.

    Empty in one window only = a feature that appeared or stopped arriving (a broken weather feed,
    a dropped join): we count it as drifted, the loudest drift there is. Empty in both = nothing to
    compare: left out of the column count.
    """
    out: dict[str, str] = {}
    for c in MODEL_INPUTS:
        ref_empty, cur_empty = ref[c].isna().all(), cur[c].isna().all()
        if ref_empty and cur_empty:
            out[c] = "both"
        elif ref_empty or cur_empty:
            out[c] = "reference" if ref_empty else "current"
    return out


def _share(drifted: set[str], tested: list[str], one_sided: list[str], ignore: tuple[str, ...]) -> tuple[int, int]:
    """(drifted, counted) columns for the alert share; `ignore`d columns are tested and reported,
    not counted (e.g. calendar inputs a single day cannot match by construction)."""
    counted = [c for c in [*tested, *one_sided] if c not in ignore]
    if not counted:
        raise ValueError("every tested column is ignored: no share to compute")
    return len([c for c in counted if c in drifted]), len(counted)


def _run_evidently(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    columns: list[str],
    alert_share: float = DRIFT_ALERT_SHARE,
    categorical: tuple[str, ...] = CATEGORICAL_FEATURES,
    tag: str = "input_drift",
    at: dt.datetime | None = None,
) -> Any:
    from evidently import DataDefinition, Dataset, Report  # ~1 s import: keep it off module import
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[c for c in columns if c not in categorical],
        categorical_columns=[c for c in columns if c in categorical],
    )
    # drift_share only drives the preset's own dataset-level test in the HTML; setting it to our
    # alert share keeps the page and the summary agreeing on "drifted or not".
    preset = DataDriftPreset(columns=columns, drift_share=alert_share)
    # The tests carry each column's drifted/not verdict; the tag tells the workspace dashboard's
    # panels the input-drift runs from the prediction-drift runs (both have the same metrics).
    report = Report([preset], include_tests=True, tags=[tag])
    with warnings.catch_warnings():
        # Evidently's column statistics divide by zero on constant or all-NaN-in-part columns.
        warnings.simplefilter("ignore", RuntimeWarning)
        return report.run(  # current first, then reference
            Dataset.from_pandas(cur[columns], data_definition=definition),
            Dataset.from_pandas(ref[columns], data_definition=definition),
            timestamp=at,  # the day judged, so the workspace dashboard draws days, not run times
        )


def _read_snapshot(result: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """Pull the dataset-level count and the per-column verdicts out of `snapshot.dict()`."""
    counts = [m for m in result["metrics"] if m["metric_name"].startswith("DriftedColumnsCount")]
    if len(counts) != 1:
        raise RuntimeError(f"expected one DriftedColumnsCount metric in Evidently's result, got {len(counts)}")
    count = int(counts[0]["value"]["count"])

    scores: dict[str, float | None] = {}
    tests: dict[str, dict[str, Any]] = {}
    for m in result["metrics"]:
        cfg = m.get("config", {})
        if cfg.get("type", "").endswith(":ValueDrift"):
            scores[cfg["column"]] = m["value"]
            tests[cfg["column"]] = {"method": cfg.get("method"), "threshold": cfg.get("threshold")}
    drifted: set[str] = set()
    for t in result["tests"]:  # one ValueDrift test per column (FAIL = drifted) + the dataset test
        params = t["metric_config"]["params"]
        if params.get("type", "").endswith(":ValueDrift") and t["status"] == "FAIL":
            drifted.add(params["column"])
    if set(scores) != set(columns) or len(drifted) != count:
        # Our reading of Evidently's output no longer matches Evidently's own count: an upgrade
        # changed the format. Failing loudly beats a report that silently says "no drift".
        raise RuntimeError(
            f"could not read the Evidently result: {len(scores)} column scores for {len(columns)} columns, "
            f"{len(drifted)} failed column tests vs DriftedColumnsCount={count}"
        )
    return {"count": count, "scores": scores, "tests": tests, "drifted": drifted}


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    out_dir: Path,
    name: str,
    *,
    extra: dict[str, Any] | None = None,
    alert_share: float = DRIFT_ALERT_SHARE,
    on_snapshot: Callable[[Any], object] | None = None,
    ignore: tuple[str, ...] = (),
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Compare the model inputs of two windows; write <name>.html and <name>.json into out_dir.

    Args:
        reference: the training window (must have every contract.MODEL_INPUTS column, >= 1 row).
        current: a later window, same columns.
        out_dir: folder for the report files (created if missing).
        name: file stem, e.g. "drift_2013-01-01_2013-03-31".
        extra: caller's context (e.g. window bounds) merged into the summary before it is written.
        alert_share: the share of drifted columns that makes the window drifted (settings.drift_alert_share).
        on_snapshot: called with Evidently's snapshot (e.g. to add it to a workspace).
        ignore: inputs tested and reported but not counted in the share (`_share`).
        at: the time the report is about (the day judged), for the workspace's timeline; None: now.

    Returns:
        A JSON-serializable summary (also stored under "summary" in <name>.json):
        drift_share, drifted_count, n_columns, drift_detected (share >= DRIFT_ALERT_SHARE),
        drift_scores {column: score|None}, column_tests {column: {kind, method, threshold}},
        drifted_columns [names, contract order], empty_columns {column: "reference"|"current"|"both"},
        reference_rows, current_rows, label_rate {reference|current: {labelled_rows, rate}},
        html_path, json_path, seconds.

    Raises:
        ValueError: a frame is empty, lacks model input columns (named), or no column has values.
    """
    started = time.perf_counter()
    _check_frame(reference, "reference")
    _check_frame(current, "current")
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"report name {name!r} must be a plain file stem (no '/', not hidden)")
    ref, cur = _model_inputs(reference), _model_inputs(current)

    empty = _empty_columns(ref, cur)
    tested = [c for c in MODEL_INPUTS if c not in empty]
    if not tested:
        raise ValueError("no model input column has values in both windows: nothing to compare")
    snapshot = _run_evidently(ref, cur, tested, alert_share, at=at)
    if on_snapshot is not None:
        on_snapshot(snapshot)
    result = _jsonable(snapshot.dict())
    parsed = _read_snapshot(result, tested)

    one_sided = [c for c, where in empty.items() if where != "both"]
    drifted_set = parsed["drifted"] | set(one_sided)
    drifted_count, n_columns = _share(drifted_set, tested, one_sided, ignore)
    drift_share = drifted_count / n_columns

    out_dir = Path(out_dir)
    html_path, json_path = out_dir / f"{name}.html", out_dir / f"{name}.json"
    column_tests = {
        c: {
            "kind": "numerical" if c in NUMERIC_FEATURES else "categorical",
            **parsed["tests"].get(c, {"method": f"all missing in {empty.get(c)}", "threshold": None}),
        }
        for c in MODEL_INPUTS
        if empty.get(c) != "both"
    }
    summary: dict[str, Any] = {
        "name": name,
        "drift_share": drift_share,
        "drifted_count": drifted_count,
        "n_columns": n_columns,
        "not_counted": [c for c in MODEL_INPUTS if c in ignore],
        "alert_share": alert_share,
        "drift_detected": drift_share >= alert_share,
        "drift_scores": {c: parsed["scores"].get(c) for c in column_tests},
        "column_tests": column_tests,
        "drifted_columns": [c for c in MODEL_INPUTS if c in drifted_set],
        "empty_columns": empty,
        "reference_rows": len(reference),
        "current_rows": len(current),
        "label_rate": {"reference": label_rate(reference), "current": label_rate(current)},
        "html_path": str(html_path),
        "json_path": str(json_path),
        **(extra or {}),
    }
    # Evidently's save_html silently writes nothing when given a Path, hence str().
    write_with(html_path, lambda tmp: snapshot.save_html(str(tmp)))
    summary["seconds"] = round(time.perf_counter() - started, 3)
    summary = _jsonable(summary)
    document = {"summary": summary, "evidently": result}
    write_text(json.dumps(document, indent=1, allow_nan=False), json_path)
    return summary


PREDICTION_COLUMNS = ("probability", "predicted_delayed")


def prediction_drift(
    reference: pd.Series,
    current: pd.Series,
    threshold: float,
    out_dir: Path,
    name: str,
    on_snapshot: Callable[[Any], object] | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Did the model's answers move? The score distribution and the share answered "delayed" (at the
    served threshold), current vs reference, tested by Evidently like any input column.

    Writes <name>.html and <name>.json into out_dir; returns {"drift_detected", "drifted_columns",
    "drift_scores", "column_tests", "positive_rate" {reference, current}, "mean_score" {...}, ...}.
    """
    started = time.perf_counter()
    ref, cur = _answers(reference, threshold, "reference"), _answers(current, threshold, "current")
    columns = list(PREDICTION_COLUMNS)
    snapshot = _run_evidently(
        ref, cur, columns, alert_share=0.5, categorical=("predicted_delayed",), tag="prediction_drift", at=at
    )
    if on_snapshot is not None:
        on_snapshot(snapshot)
    result = _jsonable(snapshot.dict())
    parsed = _read_snapshot(result, columns)
    out_dir = Path(out_dir)
    html_path, json_path = out_dir / f"{name}.html", out_dir / f"{name}.json"
    summary = _jsonable(
        {
            "name": name,
            "drift_detected": bool(parsed["drifted"]),
            "drifted_columns": [c for c in columns if c in parsed["drifted"]],
            "drift_scores": parsed["scores"],
            "column_tests": parsed["tests"],
            "threshold": threshold,
            "positive_rate": {
                "reference": float((ref["predicted_delayed"] == "yes").mean()),
                "current": float((cur["predicted_delayed"] == "yes").mean()),
            },
            "mean_score": {"reference": float(ref["probability"].mean()), "current": float(cur["probability"].mean())},
            "reference_rows": len(ref),
            "current_rows": len(cur),
            "html_path": str(html_path),
            "json_path": str(json_path),
        }
    )
    write_with(html_path, lambda tmp: snapshot.save_html(str(tmp)))
    summary["seconds"] = round(time.perf_counter() - started, 3)
    write_text(json.dumps({"summary": summary, "evidently": result}, indent=1, allow_nan=False), json_path)
    return summary


def _answers(scores: pd.Series, threshold: float, which: str) -> pd.DataFrame:
    p = pd.to_numeric(pd.Series(scores), errors="coerce").dropna().astype("float64").reset_index(drop=True)
    if p.empty:
        raise ValueError(f"{which} has no scores: there is nothing to compare")
    return pd.DataFrame({"probability": p, "predicted_delayed": np.where(p >= threshold, "yes", "no").astype(object)})


def column_verdicts(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str], categorical: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Evidently's own per-column drift test, without building a report: the test Evidently picks
    for the column and sizes (its default), at that test's default threshold.

    A report renders plots for every column (seconds); this is the same statistic in milliseconds,
    for the daily decision and the replay. tests/monitoring checks that both give the same verdicts.
    """
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    out: dict[str, dict[str, Any]] = {}
    for c in columns:
        kind = ColumnType.Categorical if c in categorical else ColumnType.Numerical
        ref = reference[c].replace([-np.inf, np.inf], np.nan).dropna()
        cur = current[c].replace([-np.inf, np.inf], np.nan).dropna()
        test = get_stattest(ref, cur, kind, None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = test(ref, cur, kind, None)
        out[c] = {
            "method": test.display_name,
            "threshold": float(result.actual_threshold),
            "score": float(result.drift_score),
            "drifted": bool(result.drifted),
        }
    return out


def drift_verdict(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    alert_share: float = DRIFT_ALERT_SHARE,
    ignore: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The summary of `drift_report` (without html_path/json_path), computed with `column_verdicts`."""
    started = time.perf_counter()
    _check_frame(reference, "reference")
    _check_frame(current, "current")
    ref, cur = _model_inputs(reference), _model_inputs(current)
    empty = _empty_columns(ref, cur)
    tested = [c for c in MODEL_INPUTS if c not in empty]
    if not tested:
        raise ValueError("no model input column has values in both windows: nothing to compare")
    verdicts = column_verdicts(ref, cur, tested, CATEGORICAL_FEATURES)
    one_sided = [c for c, where in empty.items() if where != "both"]
    drifted_set = {c for c, v in verdicts.items() if v["drifted"]} | set(one_sided)
    drifted_count, n_columns = _share(drifted_set, tested, one_sided, ignore)
    drift_share = drifted_count / n_columns
    column_tests = {
        c: {
            "kind": "numerical" if c in NUMERIC_FEATURES else "categorical",
            **(
                {"method": verdicts[c]["method"], "threshold": verdicts[c]["threshold"]}
                if c in verdicts
                else {"method": f"all missing in {empty.get(c)}", "threshold": None}
            ),
        }
        for c in MODEL_INPUTS
        if empty.get(c) != "both"
    }
    summary = {
        "drift_share": drift_share,
        "drifted_count": drifted_count,
        "n_columns": n_columns,
        "not_counted": [c for c in MODEL_INPUTS if c in ignore],
        "alert_share": alert_share,
        "drift_detected": drift_share >= alert_share,
        "drift_scores": {c: verdicts[c]["score"] if c in verdicts else None for c in column_tests},
        "column_tests": column_tests,
        "drifted_columns": [c for c in MODEL_INPUTS if c in drifted_set],
        "empty_columns": empty,
        "reference_rows": len(reference),
        "current_rows": len(current),
        "label_rate": {"reference": label_rate(reference), "current": label_rate(current)},
        "seconds": round(time.perf_counter() - started, 3),
    }
    return dict(_jsonable(summary))


def prediction_verdict(reference: pd.Series, current: pd.Series, threshold: float) -> dict[str, Any]:
    """The summary of `prediction_drift` (without the files), computed with `column_verdicts`."""
    ref, cur = _answers(reference, threshold, "reference"), _answers(current, threshold, "current")
    columns = list(PREDICTION_COLUMNS)
    verdicts = column_verdicts(ref, cur, columns, ("predicted_delayed",))
    return dict(
        _jsonable(
            {
                "drift_detected": any(v["drifted"] for v in verdicts.values()),
                "drifted_columns": [c for c in columns if verdicts[c]["drifted"]],
                "drift_scores": {c: verdicts[c]["score"] for c in columns},
                "column_tests": {
                    c: {"method": verdicts[c]["method"], "threshold": verdicts[c]["threshold"]} for c in columns
                },
                "threshold": threshold,
                "positive_rate": {
                    "reference": float((ref["predicted_delayed"] == "yes").mean()),
                    "current": float((cur["predicted_delayed"] == "yes").mean()),
                },
                "mean_score": {
                    "reference": float(ref["probability"].mean()),
                    "current": float(cur["probability"].mean()),
                },
                "reference_rows": len(ref),
                "current_rows": len(cur),
            }
        )
    )
