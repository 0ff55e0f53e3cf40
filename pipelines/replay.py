"""The replay: train on the first months, then live the rest of 2013 day by day, and see what the loop does.

    make replay                          # flightpath replay: Jan-Mar trains, Apr 1 - Dec 31 replayed
    flightpath replay --start 2013-04-01 --end 2013-05-31 --train-end 2013-03-31

Each replayed day D runs what the daily and monitoring DAGs run, in order: ingest D, build D's
features, batch-score D's flights with the champion (each at its prediction time), monitor D
(reports=False: Evidently's tests without the HTML, one day in about a second), and when the
decision says so, retrain on the last `retrain_window_days` days and let the promotion gate decide.
One step of the daily DAG is left out of the loop: materializing D into the online store. Nothing in
the replay reads the online store (batch scoring takes the same values from Feast's point-in-time
join), and it cost 0.4-0.9 s a day, a fifth of a replayed day; the online store is brought to the
replay's last day once, at the end, so `make serve` on the replay's home answers as of then.

Beside it runs the counterfactual: the first champion, never retrained, scores the same flights with
the same features (read back from the prediction log). Both arms are joined with the outcomes known
at the end of D and summed up per ISO week: ROC-AUC with a 95% bootstrap interval each. The result
lands in <reports_dir>/replay/replay.{json,md}; the table is what monitoring/NOTES.md quotes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from flightpath import lake
from flightpath.atomic import write_text
from flightpath.settings import Settings, days_between
from pipelines import steps

log = logging.getLogger(__name__)

Progress = Callable[[Iterable[dt.date]], Iterable[dt.date]]


@dataclass
class ReplayLog:
    """What happened, day by day (the JSON file) and the flights scored by both arms."""

    days: list[dict[str, Any]] = field(default_factory=list)
    retrains: list[dict[str, Any]] = field(default_factory=list)
    scored: list[pd.DataFrame] = field(default_factory=list)


def ensure_initial_champion(settings: Settings, start: dt.date, end: dt.date) -> dict[str, Any]:
    """A champion trained on the first months: the one in the registry if there is one (a replay
    resumed in the same home goes on from where it was), else ingest, build features (the online
    store then stands at the end of `end`), train and promote on [start, end]."""
    from monitoring.reference import NoChampionToMonitor, current_champion

    try:
        champ = current_champion(settings)
        return {"version": champ.version, "train_window": [d.isoformat() for d in champ.train_window], "trained": False}
    except NoChampionToMonitor:
        pass
    have = set(lake.available_days(settings.lake_dir, "curated", "flights"))
    if not set(days_between(start, end)) <= have:
        steps.ingest_window(settings, start, end)
    steps.features_window(settings, start, end)
    steps.build_training_frame(settings, start, end)
    trained = steps.train_window(settings, start, end)
    promoted = steps.register_and_promote(settings, trained["run_id"])
    if promoted.get("champion") is None:
        raise RuntimeError(f"the first model was not promoted: {promoted.get('reason')}")
    return {"version": promoted["champion"], "test_auc": trained["metrics"]["test_auc"], "trained": True}


def _scored_day(settings: Settings, day: dt.date, static_model: bytes) -> pd.DataFrame:
    """Both arms on D's batch flights, with the outcomes known at the end of D."""
    from features.contract import LABEL
    from features.tables import local_midnight_utc
    from monitoring.predictions import join_outcomes, outcomes_of, read_predictions
    from monitoring.reference import lake_flights, score

    preds = read_predictions(settings.prediction_log_url, [day])
    preds = preds[preds["source"] == "batch"].drop_duplicates(
        ["carrier", "flight", "origin", "sched_dep_utc"], keep="last"
    )
    if preds.empty:
        return pd.DataFrame()
    as_of = local_midnight_utc(day + dt.timedelta(days=1)).to_pydatetime()
    joined = join_outcomes(preds, outcomes_of(lake_flights(settings, [day])), as_of=as_of)
    return pd.DataFrame(
        {
            "day": day,
            "origin": joined["origin"],
            "delayed": joined[LABEL],
            "p_retrained": joined["probability"],
            "p_static": score(static_model, joined),
            "version": joined["model_version"],
        }
    )


def weekly_table(scored: pd.DataFrame, resamples: int, seed: int) -> list[dict[str, Any]]:
    """Per ISO week: flights, delay rate, and each arm's ROC-AUC with a 95% bootstrap interval."""
    from monitoring.quality import quality

    labelled = scored[scored["delayed"].notna()].copy()
    days = pd.to_datetime(labelled["day"])
    labelled["week"] = days.dt.strftime("%G-W%V")
    rows = []
    for week, part in labelled.groupby("week", sort=True):
        row: dict[str, Any] = {
            "week": week,
            "first_day": str(pd.to_datetime(part["day"]).min().date()),
            "flights": len(part),
            "delay_rate": float(part["delayed"].mean()),
            "versions": sorted(set(part["version"])),
        }
        for arm in ("static", "retrained"):
            q = quality(part["delayed"], part[f"p_{arm}"], threshold=0.5, resamples=resamples, seed=seed)
            row[arm] = q["roc_auc"] if q["status"] == "ok" else None
        rows.append(row)
    return rows


def _fmt(auc: dict[str, Any] | None) -> str:
    return "n/a" if not auc else f"{auc['value']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}]"


def markdown(result: dict[str, Any]) -> str:
    """The replay as the tables monitoring/NOTES.md shows."""
    lines = [
        f"Replay {result['window'][0]}..{result['window'][1]} after training on "
        f"{result['train_window'][0]}..{result['train_window'][1]} ({result['seconds'] / 60:.1f} min).",
        "",
        "| week | from | flights | delayed | never retrained: ROC-AUC [95%] | retrained by the loop | model versions |",
        "| --- | --- | ---: | ---: | --- | --- | --- |",
    ]
    for w in result["weeks"]:
        lines.append(
            f"| {w['week']} | {w['first_day']} | {w['flights']:,} | {w['delay_rate']:.1%} | {_fmt(w['static'])} | "
            f"{_fmt(w['retrained'])} | {', '.join('v' + v for v in w['versions'])} |"
        )
    lines += ["", "| day | why the loop retrained | gate | champion after |", "| --- | --- | --- | --- |"]
    for r in result["retrains"]:
        lines.append(f"| {r['day']} | {r['reason']} | {r['decision']}: {r['gate_reason']} | v{r['champion']} |")
    if not result["retrains"]:
        lines.append("| - | never | - | - |")
    alerts = [d["day"] for d in result["days"] if d.get("drift_alert")]
    drifted = [d["day"] for d in result["days"] if d.get("drift_detected")]
    lines += [
        "",
        f"Days with input drift (share >= alert share): {len(drifted)} of {len(result['days'])}; "
        f"drift alerts (3+ days in a row): {len(alerts)}.",
    ]
    return "\n".join(lines) + "\n"


def replay(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    *,
    train_start: dt.date,
    train_end: dt.date,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the replay; write <reports_dir>/replay/replay.{json,md}; return the result."""
    from monitoring.daily import monitor_day
    from monitoring.reference import current_champion

    if not train_end < start <= end:
        raise ValueError(f"the replay {start}..{end} must start after the training window ends ({train_end})")
    t0 = time.perf_counter()
    first = ensure_initial_champion(settings, train_start, train_end)
    champ = current_champion(settings)
    static = champ.model
    out = ReplayLog()
    days = days_between(start, end)
    for day in progress(days) if progress else days:
        steps.ingest_one_day(settings, day)
        steps.features_one_day(settings, day)
        batch = steps.batch_score_one_day(settings, day)
        out.scored.append(_scored_day(settings, day, static))
        summary = monitor_day(settings, day, champ, reports=False)
        decision = summary["decision"]
        out.days.append(
            {
                "day": day.isoformat(),
                "version": champ.version,
                "flights": batch["flights"],
                "drift_share": summary["drift"]["inputs"].get("drift_share"),
                "drift_detected": summary["drift"]["inputs"].get("drift_detected"),
                "drift_alert": decision["drift_alert"],
                "window_auc": (summary["quality"]["window"].get("roc_auc") or {}).get("value"),
                "retrain": decision["retrain"],
                "reasons": decision["reasons"],
            }
        )
        if decision["retrain"]:
            reason = "; ".join(decision["reasons"])
            retrained = steps.retrain(settings, day, reason)
            out.retrains.append({"day": day.isoformat(), **retrained})
            champ = current_champion(settings)  # promoted or not, judge whatever is champion now
    steps.materialize_up_to(settings, end)
    scored = pd.concat(out.scored, ignore_index=True) if out.scored else pd.DataFrame()
    result = {
        "window": [start.isoformat(), end.isoformat()],
        "train_window": [train_start.isoformat(), train_end.isoformat()],
        "first_champion": first,
        "weeks": weekly_table(scored, settings.quality_resamples, settings.seed) if len(scored) else [],
        "retrains": out.retrains,
        "days": out.days,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    folder = settings.reports_dir / "replay"
    write_text(json.dumps(result, indent=1, default=str), folder / "replay.json")
    write_text(markdown(result), folder / "replay.md")
    return result
