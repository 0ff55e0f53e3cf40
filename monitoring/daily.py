"""One day's monitoring of the champion: what it was asked, what it answered, how it did, and what to do.

    summary = monitor_day(settings, dt.date(2013, 4, 2))     # the monitoring DAG and `flightpath monitor-day`
    summary["decision"]["retrain"], summary["decision"]["reasons"]

For the flights scheduled on `day` (live /v1/predict answers and batch answers from the prediction
log, one per flight, live preferred):
- input drift of the model inputs actually used, against the champion's training window (Evidently);
- prediction drift: its scores and its "delayed" share against its answers on that same window;
- quality once outcomes arrived: the day and the trailing `quality_window_days`, overall and by
  origin and carrier, each metric with a 95% bootstrap interval (monitoring/quality.py);
- a decision (monitoring/decision.py): retrain or not, with its reasons.

Everything lands in <reports_dir>/monitoring/<day>/ (HTML for people, JSON for code, summary.json)
and in an MLflow run of the "<experiment>-monitoring" experiment tagged with the model version it
judged. "Known" means known at the end of `day` (local midnight after it): a later outcome is not
used, so rerunning a day later gives the same answer.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from features.contract import LABEL
from features.tables import local_midnight_utc
from flightpath.atomic import write_text
from flightpath.prediction_table import SOURCE_PREDICT
from flightpath.settings import Settings
from monitoring.decision import DayResult, Policy, decide
from monitoring.drift import drift_report, drift_verdict, prediction_drift, prediction_verdict
from monitoring.predictions import join_outcomes, latest_per_flight, outcomes_of, read_predictions
from monitoring.quality import NOT_ENOUGH_DATA, OK, quality, quality_by
from monitoring.reference import Champion, current_champion, lake_flights, reference_frame
from monitoring.workspace import add_snapshot

log = logging.getLogger(__name__)

# Fewer answers than this on a day and drift is not tested: Evidently's tests on a handful of rows
# flag noise (monitoring/NOTES.md, "Distances have a noise floor").
MIN_DRIFT_ROWS = 50
# One day of flights cannot match a months-long training window in these by construction (one
# weekday, one month, one distance to a holiday): tested and reported, not counted in the share.
BY_CONSTRUCTION = ("sched_weekday", "sched_month", "days_to_holiday")
SUMMARY = "summary.json"


def monitoring_dir(settings: Settings) -> Path:
    return settings.reports_dir / "monitoring"


def day_dir(settings: Settings, day: dt.date) -> Path:
    return monitoring_dir(settings) / day.isoformat()


def one_per_flight(preds: pd.DataFrame) -> pd.DataFrame:
    """The last answer per flight, a live one preferred over a batch one (what the service was asked)."""
    latest = latest_per_flight(preds)
    live_first = latest.assign(_rank=(latest["source"] != SOURCE_PREDICT).astype(int)).sort_values(
        ["_rank", "id"], kind="stable"
    )
    keys = ["carrier", "flight", "origin", "sched_dep_utc"]
    return live_first.drop_duplicates(keys, keep="first").drop(columns="_rank").sort_values("id").reset_index(drop=True)


def _not_enough(reason: str, **extra: Any) -> dict[str, Any]:
    return {"status": NOT_ENOUGH_DATA, "reason": reason, **extra}


def _drift(
    settings: Settings, ref: pd.DataFrame, today: pd.DataFrame, out: Path, champ: Champion, reports: bool
) -> dict[str, Any]:
    """Input and prediction drift. With `reports`, Evidently reports (HTML + JSON + workspace runs)
    whose verdicts are used; without (the replay), the same Evidently tests without the report."""
    if len(today) < MIN_DRIFT_ROWS:
        why = _not_enough(f"{len(today)} predictions (< {MIN_DRIFT_ROWS})", current_rows=len(today))
        return {"inputs": why, "predictions": why}
    if not reports:
        inputs = drift_verdict(ref, today, alert_share=settings.drift_alert_share, ignore=BY_CONSTRUCTION)
        answers = prediction_verdict(ref["probability"], today["probability"], champ.threshold)
        return {"inputs": {"status": OK, **inputs}, "predictions": {"status": OK, **answers}}
    day = out.name
    at = dt.datetime.fromisoformat(day)  # the judged day, naive: Evidently's UI shows it as given
    inputs = drift_report(
        ref,
        today,
        out,
        "input_drift",
        alert_share=settings.drift_alert_share,
        on_snapshot=lambda snap: add_snapshot(settings, snap, f"{day} input drift v{champ.version}"),
        ignore=BY_CONSTRUCTION,
        at=at,
    )
    answers = prediction_drift(
        ref["probability"],
        today["probability"],
        champ.threshold,
        out,
        "prediction_drift",
        on_snapshot=lambda snap: add_snapshot(settings, snap, f"{day} prediction drift v{champ.version}"),
        at=at,
    )
    return {"inputs": {"status": OK, **inputs}, "predictions": {"status": OK, **answers}}


def _quality(settings: Settings, day: dt.date, champ: Champion) -> tuple[dict[str, Any], pd.DataFrame]:
    days = [day - dt.timedelta(days=k) for k in range(settings.quality_window_days - 1, -1, -1)]
    preds = one_per_flight(read_predictions(settings.prediction_log_url, days))
    preds = preds[preds["model_version"] == champ.version]  # judge this model only
    flights = lake_flights(settings, days)
    as_of = local_midnight_utc(day + dt.timedelta(days=1)).to_pydatetime()
    if flights.empty or preds.empty:
        why = "no predictions" if preds.empty else "no outcomes ingested yet"
        empty = _not_enough(f"{why} for {days[0]}..{day}", n=0)
        return {
            "day": empty,
            "window": empty,
            "by_origin": {},
            "by_carrier": {},
            "window_days": [days[0].isoformat(), day.isoformat()],
        }, preds
    labelled = join_outcomes(preds, outcomes_of(flights), as_of=as_of)
    labelled = labelled[labelled[LABEL].notna()]
    on_day = labelled[labelled["sched_dep_utc"] >= pd.Timestamp(local_midnight_utc(day))]

    def judged(frame: pd.DataFrame) -> dict[str, Any]:
        return quality(
            frame[LABEL],
            frame["probability"],
            threshold=champ.threshold,
            resamples=settings.quality_resamples,
            seed=settings.seed,
        )

    return {
        "day": judged(on_day),
        "window": judged(labelled),
        "window_days": [days[0].isoformat(), day.isoformat()],
        "by_origin": quality_by(labelled, "origin", threshold=champ.threshold, seed=settings.seed),
        "by_carrier": quality_by(labelled, "carrier", threshold=champ.threshold, seed=settings.seed),
        "predictions_in_window": len(preds),
        "labelled_in_window": len(labelled),
        "as_of": as_of.isoformat(),
    }, labelled


def day_result(summary: dict[str, Any]) -> DayResult:
    """The parts of a stored summary the decision reads."""
    window = summary["quality"]["window"]
    drift = summary["drift"]["inputs"]
    ok = window.get("status") == OK
    return DayResult(
        day=dt.date.fromisoformat(summary["day"]),
        model_version=summary["model"]["version"],
        drift_detected=drift.get("drift_detected") if drift.get("status") == OK else None,
        quality_status=window.get("status", NOT_ENOUGH_DATA),
        auc=window["roc_auc"]["value"] if ok else None,
        auc_high=window["roc_auc"]["high"] if ok else None,
        champion_test_auc=summary["model"].get("test_auc"),
        retrain_triggered=bool(summary.get("decision", {}).get("retrain")),
    )


def history(settings: Settings, before: dt.date, model_version: str) -> list[DayResult]:
    """Stored results of earlier days judging the same model (a new champion starts a new history)."""
    out = []
    for path in sorted(monitoring_dir(settings).glob(f"*/{SUMMARY}")):
        try:
            summary = json.loads(path.read_text())
            result = day_result(summary)
        except (ValueError, KeyError) as exc:
            log.warning("ignoring unreadable monitoring summary %s: %s", path, exc)
            continue
        if result.day < before and result.model_version == model_version:
            out.append(result)
    return out


def monitor_day(
    settings: Settings, day: dt.date, champ: Champion | None = None, *, reports: bool = True
) -> dict[str, Any]:
    """Monitor the champion on `day`; write summary.json (and, with `reports`, the Evidently
    reports and workspace runs); return the summary."""
    t0 = time.perf_counter()
    champ = champ or current_champion(settings)
    ref = reference_frame(settings, champ)
    out = day_dir(settings, day)
    out.mkdir(parents=True, exist_ok=True)

    today = one_per_flight(read_predictions(settings.prediction_log_url, [day]))
    sources = today["source"].value_counts().to_dict()
    drift = _drift(settings, ref, today, out, champ, reports)
    qual, _ = _quality(settings, day, champ)

    summary: dict[str, Any] = {
        "day": day.isoformat(),
        "model": {
            "name": champ.name,
            "version": champ.version,
            "threshold": champ.threshold,
            "test_auc": champ.test_auc,
            # the decision's and the alert's line: retrain when even the top of the interval is below
            "quality_floor": None if champ.test_auc is None else champ.test_auc - settings.quality_max_auc_drop,
            "train_window": [d.isoformat() for d in champ.train_window],
        },
        "predictions": {"flights": len(today), "by_source": {str(k): int(v) for k, v in sources.items()}},
        "reference_rows": len(ref),
        "drift": drift,
        "quality": qual,
    }
    decision = decide(day_result(summary), history(settings, day, champ.version), Policy.from_settings(settings))
    summary["decision"] = decision.as_dict()
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    write_text(json.dumps(summary, indent=1, default=str), out / SUMMARY)
    log.info("monitoring %s of v%s: retrain=%s; %s", day, champ.version, decision.retrain, "; ".join(decision.reasons))
    return summary
