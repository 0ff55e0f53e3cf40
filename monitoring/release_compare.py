"""Champion vs challenger during a staged release, from the prediction log.

    flightpath release compare --minutes 60

Canary: some live requests are answered by the challenger (canary pods follow the `challenger`
alias), the rest by the champion; every row carries the model version. Shadow: every live request
is also answered by the challenger's shadow pods, logged as source "shadow" under the same request
id, never returned. This puts them side by side over the same minutes: per version and role, how
many answers, the mean probability, how often one was degraded (missing online features), the
handler's latency; and for shadow rows, how far each one is from the live answer to the same
request. Batch rows (the pipeline's, not answers to users) are left out.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

LIVE_SOURCES = ("predict", "score")  # flags.source of rows the service answered
SHADOW_SOURCE = "shadow"  # answers of a shadow service (serving/shadow_mirror.py), never returned


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _source(row: dict[str, Any]) -> str | None:
    return (row.get("flags") or {}).get("source")


def _arm(version: str, role: str, members: list[dict[str, Any]], total: int) -> dict[str, Any]:
    latency = [float(r["latency_ms"]) for r in members]
    degraded = sum(bool((r.get("flags") or {}).get("degraded")) for r in members)
    return {
        "model_version": version,
        "role": role,
        "answers": len(members),
        "share": round(len(members) / total, 4) if role == "live" else None,  # of live traffic
        "mean_probability": round(statistics.fmean(float(r["probability"]) for r in members), 4),
        "degraded_share": round(degraded / len(members), 4),
        "latency_ms_p50": round(_quantile(latency, 0.5), 3),
        "latency_ms_p95": round(_quantile(latency, 0.95), 3),
    }


def compare(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """{"arms": one entry per (model version, live|shadow), most answers first; "shadow": the
    shadow answers against the live answers to the same requests (None without any pair)}."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        source = _source(row)
        if source in LIVE_SOURCES or source == SHADOW_SOURCE:
            groups[(str(row["model_version"]), "shadow" if source == SHADOW_SOURCE else "live")].append(row)
    total = sum(len(m) for (_, role), m in groups.items() if role == "live")
    arms = [_arm(version, role, members, total) for (version, role), members in groups.items()]
    live = {r["request_id"]: r for r in rows if _source(r) in LIVE_SOURCES}
    pairs = [(live[r["request_id"]], r) for r in rows if _source(r) == SHADOW_SOURCE and r["request_id"] in live]
    shadow = None
    if pairs:
        gaps = [abs(float(a["probability"]) - float(b["probability"])) for a, b in pairs]
        shadow = {
            "pairs": len(pairs),
            "versions": sorted({f"v{a['model_version']} live / v{b['model_version']} shadow" for a, b in pairs}),
            "mean_abs_difference": round(statistics.fmean(gaps), 4),
            "max_abs_difference": round(max(gaps), 4),
        }
    return {"arms": sorted(arms, key=lambda arm: -arm["answers"]), "shadow": shadow}
