"""The loop's steps over a window of days: what DAG tasks and CLI commands call.

Each step is a thin composition of stage functions, takes the window as plain dates, and returns a
small JSON-serializable summary (it travels as an Airflow XCom) including how long it took. The
per-day functions inside (e.g. `ingest_day`) are the ones the daily DAG calls for a single day.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from flightpath import lake
from flightpath.atomic import write_parquet, write_text
from flightpath.settings import Settings, days_between

log = logging.getLogger(__name__)

Progress = Callable[[Iterable[dt.date]], Iterable[dt.date]]


def _window(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise ValueError(f"window end {end} is before its start {start}")
    return days_between(start, end)


def ingest_window(
    settings: Settings, start: dt.date, end: dt.date, progress: Progress | None = None, *, redeliver: bool = False
) -> dict[str, Any]:
    """Ingest every day of the window with the per-day function; totals + per-rule counts.
    `redeliver`: landing drops that differ from raw replace it (pipelines/ingest/run.py)."""
    from pipelines.ingest.run import ingest_day, ingest_dimensions

    t0 = time.perf_counter()
    dims = ingest_dimensions(settings)
    days = _window(start, end)
    totals = {"rows_in": 0, "curated": 0, "quarantined": 0}
    by_rule: dict[str, int] = {}
    for i, day in enumerate(progress(days) if progress else days, 1):
        summary = ingest_day(settings, day, redeliver=redeliver)
        flights = summary["flights"]
        for k in totals:
            totals[k] += flights[k]
        for rule, n in flights["by_rule"].items():
            by_rule[rule] = by_rule.get(rule, 0) + n
        if not progress:
            log.info("ingest %d/%d %s: %s", i, len(days), day, flights)
    return {
        "days": len(days),
        "flights": totals,
        "quarantine_by_rule": by_rule,
        "dimensions": dims,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def features_window(settings: Settings, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Feature tables for the window, `feast apply`, then materialize up to the window's end."""
    from features.materialize import materialize
    from features.store import apply_repo
    from features.tables import build_feature_tables, local_midnight_utc

    t0 = time.perf_counter()
    tables = build_feature_tables(settings, _window(start, end))
    applied = apply_repo(settings)
    # "Now" in the replay is the end of the last day: the online store then holds what a live
    # system would know at that moment.
    mat = materialize(
        settings,
        local_midnight_utc(start).to_pydatetime(),
        local_midnight_utc(end + dt.timedelta(days=1)).to_pydatetime(),
    )
    return {"tables": tables, "apply": applied, "materialize": mat, "seconds": round(time.perf_counter() - t0, 2)}


# --- the daily DAG's steps: one local day each -------------------------------------------------


def ingest_one_day(settings: Settings, day: dt.date, *, redeliver: bool = False) -> dict[str, Any]:
    """Ingest day D and log its quality summary (counts per rule); fails on an invariant breach, a
    drop without a contract column, or a drop differing from raw unless `redeliver`."""
    from pipelines.ingest.run import ingest_day, ingest_dimensions

    t0 = time.perf_counter()
    ingest_dimensions(settings)
    summary = ingest_day(settings, day, redeliver=redeliver)
    log.info("quality %s flights: %s", day, summary["flights"])
    log.info("quality %s weather: %s", day, summary["weather"])
    return {**summary, "seconds": round(time.perf_counter() - t0, 2)}


def features_one_day(settings: Settings, day: dt.date) -> dict[str, Any]:
    """Feature files of day D (from D and the days before it), and `feast apply` (idempotent)."""
    from features.store import apply_repo
    from features.tables import build_feature_tables

    t0 = time.perf_counter()
    rows = build_feature_tables(settings, [day])
    apply_repo(settings)
    return {"day": day.isoformat(), "rows": rows, "seconds": round(time.perf_counter() - t0, 2)}


def materialize_one_day(settings: Settings, day: dt.date) -> dict[str, Any]:
    """Incremental materialization of exactly [local midnight D, local midnight D+1)."""
    from features.materialize import materialize
    from features.tables import local_midnight_utc

    return materialize(
        settings,
        local_midnight_utc(day).to_pydatetime(),
        local_midnight_utc(day + dt.timedelta(days=1)).to_pydatetime(),
    )


def materialize_up_to(settings: Settings, day: dt.date) -> dict[str, Any]:
    """The online store as it stands at the end of D, in one materialization: the last days that
    the longest feature view TTL can still reach (the planes snapshot is always included)."""
    from features.feature_repo.definitions import VIEW_TTL
    from features.materialize import materialize
    from features.tables import local_midnight_utc

    reach = max(VIEW_TTL.values())
    end = local_midnight_utc(day + dt.timedelta(days=1)).to_pydatetime()
    return materialize(settings, end - reach - dt.timedelta(days=1), end)


# --- the demo's steps: a window of days -----------------------------------------------------------


def fit_to_window(settings: Settings, start: dt.date, end: dt.date) -> Settings:
    """Settings whose validation and monitor windows fit inside [start, end].

    Each of the two later windows takes at most a quarter of the days, so a short demo window
    (`make demo START=2013-01-01 END=2013-01-28`) still leaves half of it for training.
    """
    n_days = len(_window(start, end))
    cap = max(1, n_days // 4)
    fitted = {"validation_days": min(settings.validation_days, cap), "monitor_days": min(settings.monitor_days, cap)}
    if fitted != {"validation_days": settings.validation_days, "monitor_days": settings.monitor_days}:
        log.info("window of %d days: using %s", n_days, fitted)
    return settings.model_copy(update=fitted)


def training_frame_path(settings: Settings, start: dt.date, end: dt.date) -> Path:
    return lake.training_set_file(settings.lake_dir, start, end)


def build_training_frame(settings: Settings, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Point-in-time training set for the window, saved in the lake for train and monitor."""
    from features.training_set import training_set

    t0 = time.perf_counter()
    frame = training_set(settings, _window(start, end))
    path = write_parquet(frame, training_frame_path(settings, start, end))
    return {
        "rows": len(frame),
        "labelled": int(frame["delayed"].notna().sum()),
        "path": str(path),
        "seconds": round(time.perf_counter() - t0, 2),
    }


def train_window(settings: Settings, start: dt.date, end: dt.date) -> dict[str, Any]:
    from training.train import train_and_export

    t0 = time.perf_counter()
    frame = pd.read_parquet(training_frame_path(settings, start, end))
    result = train_and_export(fit_to_window(settings, start, end), frame)
    return {**result, "seconds": round(time.perf_counter() - t0, 2)}


def register_and_promote(settings: Settings, run_id: str) -> dict[str, Any]:
    from training.registry import register_and_promote as _register

    t0 = time.perf_counter()
    result = _register(settings, run_id)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def monitor_window(settings: Settings, start: dt.date, end: dt.date) -> dict[str, Any]:
    from monitoring.run import monitor_windows

    t0 = time.perf_counter()
    frame = pd.read_parquet(training_frame_path(settings, start, end))
    result = monitor_windows(fit_to_window(settings, start, end), frame)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def summary_path(settings: Settings) -> Path:
    return settings.reports_dir / "demo_summary.json"


def write_summary(settings: Settings, start: dt.date, end: dt.date, steps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Collect every step's result into one JSON file the CLI prints after the DAG run."""
    summary = {"window": {"start": start.isoformat(), "end": end.isoformat()}, "steps": steps}
    write_text(json.dumps(summary, indent=2, default=str), summary_path(settings))
    return {"path": str(summary_path(settings))}


# --- closing the loop: batch scoring, daily monitoring, retraining ----------------------------------


def batch_score_one_day(settings: Settings, day: dt.date) -> dict[str, Any]:
    """Score day D's flights with the champion, each as of its prediction time (pipelines/batch_score.py)."""
    from pipelines.batch_score import batch_score_day

    return batch_score_day(settings, day)


def monitor_one_day(settings: Settings, day: dt.date) -> dict[str, Any]:
    """Monitor the champion on day D: drift, prediction drift, quality, the retrain decision.

    The reports are also logged to MLflow next to the model version they judge. Returns a short
    summary (the full one is <reports_dir>/monitoring/<D>/summary.json).
    """
    from monitoring.daily import day_dir, monitor_day
    from monitoring.publish import log_to_mlflow, short_summary

    summary = monitor_day(settings, day)
    summary["mlflow_run_id"] = log_to_mlflow(settings, summary, day_dir(settings, day))
    return short_summary(summary)


def retrain_window_for(settings: Settings, day: dt.date) -> tuple[dt.date, dt.date]:
    """The last `retrain_window_days` days up to D (cut at the first day of the data)."""
    from flightpath.settings import DATA_FIRST_DAY

    return max(DATA_FIRST_DAY, day - dt.timedelta(days=settings.retrain_window_days - 1)), day


def retrain(settings: Settings, day: dt.date, reason: str) -> dict[str, Any]:
    """Train on the window ending at D, register, and let the promotion gate decide."""
    t0 = time.perf_counter()
    start, end = retrain_window_for(settings, day)
    log.info("retraining on %s..%s because: %s", start, end, reason)
    frame = build_training_frame(settings, start, end)
    trained = train_window(settings, start, end)
    promoted = register_and_promote(settings, trained["run_id"])
    return {
        "window": [start.isoformat(), end.isoformat()],
        "reason": reason,
        "rows": frame["rows"],
        "run_id": trained["run_id"],
        "test_auc": trained.get("metrics", {}).get("test_auc"),
        "version": promoted.get("version"),
        "decision": promoted.get("decision"),
        "gate_reason": promoted.get("reason"),
        "champion": promoted.get("champion"),
        "seconds": round(time.perf_counter() - t0, 2),
    }
