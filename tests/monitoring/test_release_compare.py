"""monitoring/release_compare.py: the versions' live answers side by side."""

from __future__ import annotations

from typing import Any

from monitoring.release_compare import compare


def row(version: str, p: float, latency: float, source: str = "predict", degraded: bool = False) -> dict[str, Any]:
    return {
        "model_version": version,
        "probability": p,
        "latency_ms": latency,
        "flags": {"source": source, "degraded": degraded},
    }


def test_each_version_gets_its_share_mean_degraded_and_latency() -> None:
    rows = [row("1", 0.2, 1.0), row("1", 0.4, 3.0, degraded=True), row("1", 0.3, 2.0), row("2", 0.6, 5.0, "score")]
    champion, canary = compare(rows)
    assert champion == {
        "model_version": "1",
        "answers": 3,
        "share": 0.75,
        "mean_probability": 0.3,
        "degraded_share": 0.3333,
        "latency_ms_p50": 2.0,
        "latency_ms_p95": 3.0,
    }
    assert canary["model_version"] == "2" and canary["share"] == 0.25 and canary["mean_probability"] == 0.6


def test_batch_rows_are_not_answers_to_users() -> None:
    assert compare([row("1", 0.5, 1.0, source="batch")]) == []
    assert [arm["model_version"] for arm in compare([row("1", 0.5, 1.0, "batch"), row("2", 0.5, 1.0)])] == ["2"]
