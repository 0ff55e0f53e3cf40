"""Champion vs challenger during a staged release, from the prediction log.

    flightpath release compare --minutes 60

During a canary release some live requests are answered by the challenger (canary pods follow the
`challenger` alias), the rest by the champion; every answer's row carries the model version. This
puts the versions side by side over the same minutes: how many answers, the mean probability, how
often an answer was degraded (missing online features), and the handler's latency. Batch rows (the
pipeline's, not answers to users) are left out.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

LIVE_SOURCES = ("predict", "score")  # flags.source of rows the service answered


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def compare(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per model version among the live rows, most answers first."""
    by_version: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if (row.get("flags") or {}).get("source") in LIVE_SOURCES:
            by_version[str(row["model_version"])].append(row)
    out = []
    for version, members in by_version.items():
        latency = [float(r["latency_ms"]) for r in members]
        degraded = sum(bool((r.get("flags") or {}).get("degraded")) for r in members)
        out.append(
            {
                "model_version": version,
                "answers": len(members),
                "share": round(len(members) / sum(map(len, by_version.values())), 4),
                "mean_probability": round(statistics.fmean(float(r["probability"]) for r in members), 4),
                "degraded_share": round(degraded / len(members), 4),
                "latency_ms_p50": round(_quantile(latency, 0.5), 3),
                "latency_ms_p95": round(_quantile(latency, 0.95), 3),
            }
        )
    return sorted(out, key=lambda arm: -arm["answers"])
