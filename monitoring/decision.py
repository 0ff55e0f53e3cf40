"""Retrain or not: one pure function over a day's monitoring results and the days before it.

    decision = decide(today, history, policy)
    decision.retrain, decision.reasons

Rules, in order (monitoring/NOTES.md explains why):
1. Not enough data is never an alarm: a day without predictions or labels decides nothing.
2. Quality drop: the trailing window's ROC-AUC is below the champion's test ROC-AUC by more than
   `quality_max_auc_drop`, even at the upper end of its 95% interval (noise alone cannot explain
   it): retrain.
3. Sustained drift: the inputs drifted on `drift_days_to_retrain` monitored days in a row (one
   drifted day is a storm; several are a new regime). With a quality verdict that holds, that is an
   alert to investigate, not a retrain: the model still ranks flights as well as it did, and
   retraining on a broken feed would make it worse. Without a quality verdict (labels not arriving),
   drift is the only evidence there is: retrain.
4. Cool-down: no new retraining while the last one is younger than `cooldown_days` (the gate may
   have rejected it, and retraining every day on the same evidence only repeats the rejection).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from flightpath.settings import Settings


@dataclass(frozen=True)
class Policy:
    quality_max_auc_drop: float
    drift_days_to_retrain: int
    cooldown_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            quality_max_auc_drop=settings.quality_max_auc_drop,
            drift_days_to_retrain=settings.drift_days_to_retrain,
            cooldown_days=settings.retrain_cooldown_days,
        )


@dataclass(frozen=True)
class DayResult:
    """What one day's monitoring found (the parts a decision needs)."""

    day: dt.date
    model_version: str
    drift_detected: bool | None  # None: not enough predictions to test
    quality_status: str  # "ok" | "not_enough_data"
    auc_high: float | None  # upper end of the trailing window's ROC-AUC interval
    auc: float | None
    champion_test_auc: float | None
    retrain_triggered: bool = False


@dataclass(frozen=True)
class Decision:
    retrain: bool
    reasons: list[str] = field(default_factory=list)
    drift_alert: bool = False  # sustained drift: someone should look, whatever was decided

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(today: DayResult, history: list[DayResult], policy: Policy) -> Decision:
    """`history`: earlier days' results, any order; only days before `today` count."""
    earlier = sorted((h for h in history if h.day < today.day), key=lambda h: h.day)
    reasons: list[str] = []
    triggers: list[str] = []

    last_retrain = next((h.day for h in reversed(earlier) if h.retrain_triggered), None)
    quality_known = today.quality_status == "ok" and today.auc_high is not None
    if quality_known and today.auc_high is not None and today.champion_test_auc is not None:
        floor = today.champion_test_auc - policy.quality_max_auc_drop
        if today.auc_high < floor:
            triggers.append(
                f"quality drop: trailing ROC-AUC {today.auc:.3f} (95% interval up to {today.auc_high:.3f}) "
                f"is below {floor:.3f} = champion v{today.model_version}'s test ROC-AUC "
                f"{today.champion_test_auc:.3f} - {policy.quality_max_auc_drop}"
            )
        else:
            reasons.append(
                f"quality holds: ROC-AUC {today.auc:.3f}, interval reaches {today.auc_high:.3f} >= {floor:.3f}"
            )
    else:
        reasons.append("quality: not enough labelled predictions yet")

    alert = False
    if today.drift_detected is None:
        reasons.append("drift: not enough predictions to test")
    else:
        run = [today]
        for h in reversed(earlier):
            if h.day != run[-1].day - dt.timedelta(days=1) or not h.drift_detected:
                break
            run.append(h)
        streak = len(run) if today.drift_detected else 0
        alert = streak >= policy.drift_days_to_retrain
        if alert and not quality_known:
            triggers.append(
                f"sustained drift without labels: inputs drifted {streak} days in a row "
                f"(>= {policy.drift_days_to_retrain}) and there is no quality verdict to check it against"
            )
        elif alert:
            reasons.append(
                f"drift alert: inputs drifted {streak} days in a row, but quality holds: investigate, do not retrain"
            )
        else:
            reasons.append(f"drift: {streak} drifted day(s) in a row (< {policy.drift_days_to_retrain})")

    if not triggers:
        return Decision(False, reasons, alert)
    if last_retrain is not None and (today.day - last_retrain).days < policy.cooldown_days:
        return Decision(
            False,
            [*triggers, f"cool-down: retraining was triggered on {last_retrain}, < {policy.cooldown_days} days ago"],
            alert,
        )
    return Decision(True, triggers, alert)
