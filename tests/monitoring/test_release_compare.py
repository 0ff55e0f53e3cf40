"""monitoring/release_compare.py: the versions' answers side by side, canary and shadow."""

from __future__ import annotations

from typing import Any

from monitoring.release_compare import compare


def row(
    version: str, p: float, latency: float, source: str = "predict", degraded: bool = False, rid: str = ""
) -> dict[str, Any]:
    return {
        "request_id": rid or f"{version}-{p}-{latency}",
        "model_version": version,
        "probability": p,
        "latency_ms": latency,
        "flags": {"source": source, "degraded": degraded},
    }


def test_each_version_gets_its_share_mean_degraded_and_latency() -> None:
    rows = [row("1", 0.2, 1.0), row("1", 0.4, 3.0, degraded=True), row("1", 0.3, 2.0), row("2", 0.6, 5.0, "score")]
    result = compare(rows)
    champion, canary = result["arms"]
    assert champion == {
        "model_version": "1",
        "role": "live",
        "answers": 3,
        "share": 0.75,
        "mean_probability": 0.3,
        "degraded_share": 0.3333,
        "latency_ms_p50": 2.0,
        "latency_ms_p95": 3.0,
    }
    assert canary["model_version"] == "2" and canary["share"] == 0.25 and canary["mean_probability"] == 0.6
    assert result["shadow"] is None


def test_shadow_answers_pair_with_the_live_answer_to_the_same_request() -> None:
    rows = [
        row("1", 0.20, 1.0, rid="a"),
        row("2", 0.30, 1.5, "shadow", rid="a"),
        row("1", 0.50, 1.0, rid="b"),
        row("2", 0.45, 1.5, "shadow", rid="b"),
        row("2", 0.90, 1.5, "shadow", rid="lost"),  # its live row is outside the window: no pair
    ]
    result = compare(rows)
    roles = {(a["model_version"], a["role"]): a for a in result["arms"]}
    assert roles[("1", "live")]["share"] == 1.0 and roles[("2", "shadow")]["share"] is None
    assert roles[("2", "shadow")]["answers"] == 3
    assert result["shadow"] == {
        "pairs": 2,
        "versions": ["v1 live / v2 shadow"],
        "mean_abs_difference": 0.075,
        "max_abs_difference": 0.1,
    }


def test_batch_rows_are_not_answers_to_users() -> None:
    assert compare([row("1", 0.5, 1.0, source="batch")]) == {"arms": [], "shadow": None}
    only = compare([row("1", 0.5, 1.0, "batch"), row("2", 0.5, 1.0)])["arms"]
    assert [arm["model_version"] for arm in only] == ["2"]
