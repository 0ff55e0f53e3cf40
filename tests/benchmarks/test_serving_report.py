"""The serving benchmark's verdicts are computed from its numbers, and the floor feeds the model
exactly what serving feeds it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from benchmarks.serving_floor import _feed
from benchmarks.serving_report import render, summary, under_budget
from features import contract
from serving.features import to_columns


def lv(c: int, rps: float, p50: float, p99: float, cpu: float, errors: int = 0) -> dict[str, Any]:
    return {
        "concurrency": c,
        "requests": int(rps * 8),
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "mean_ms": p50,
        "errors": errors,
        "cpu_ms_per_request": cpu,
        "worker_rss_mb": 100.0,
    }


def results(mlflow_p99: float = 9.0) -> dict[str, Any]:
    return {
        "window": ["2013-01-01", "2013-01-28"],
        "model": {"test_auc": 0.68},
        "requests": 64,
        "concurrency": [1, 8, 32],
        "duration_s": 8,
        "server_cpu": 1,
        "client_cpu": 0,
        "parity": {"rows": 8, "max_abs_diff": {"floor": 0.0, "flightpath": 0.0, "mlflow": 1e-7}},
        "floor": [lv(1, 4000, 0.25, 0.5, 0.20), lv(8, 5000, 1.5, 3.0, 0.19), lv(32, 5200, 6.0, 12.0, 0.19)],
        "flightpath_score": [lv(1, 2000, 0.45, 0.7, 0.35), lv(8, 2400, 3.0, 8.0, 0.42), lv(32, 3200, 12.0, 30.0, 0.37)],
        # mlflow's best level under 10 ms has errors: it must not count.
        "mlflow": [lv(1, 90, 5.0, mlflow_p99, 6.0), lv(8, 95, 9.0, 9.5, 6.5, errors=3), lv(32, 96, 300, 400, 7.0)],
        "flightpath_predict": [lv(1, 1200, 0.8, 2.0, 0.8), lv(32, 1300, 25.0, 40.0, 0.77)],
    }


def test_throughput_under_the_p99_budget_skips_slow_and_failing_levels() -> None:
    r = results()
    assert under_budget(r["flightpath_score"])["concurrency"] == 8  # 32 has p99 30 ms
    assert under_budget(r["mlflow"])["concurrency"] == 1  # 8 had errors
    assert under_budget([lv(1, 10, 20.0, 50.0, 1.0)]) is None


def test_ratios_and_verdicts_follow_the_numbers() -> None:
    s = summary(results())
    ratios = s["ratios"]
    assert math.isclose(ratios["rss_vs_floor"], 1.0)
    assert math.isclose(ratios["p99_c1_vs_floor"], 0.7 / 0.5)
    assert math.isclose(ratios["throughput_top_vs_floor"], 3200 / 5200)
    # CPU: the worse of c=1 and c=32 (0.35/0.20 = 1.75 vs 0.37/0.19 = 1.95)
    assert math.isclose(ratios["cpu_vs_floor"], 0.37 / 0.19)
    assert math.isclose(ratios["throughput_vs_mlflow"], 2400 / 90)
    page = "\n".join(render(results()))
    assert "| 1.40x | met |" in page and "| 0.62x | met |" in page and "**missed**" not in page


def test_a_missed_target_is_said_plainly() -> None:
    r = results()
    r["flightpath_score"][0]["p99_ms"] = 1.5  # 3x the floor
    r["flightpath_score"][-1]["rps"] = 2600  # half the floor's
    page = "\n".join(render(r))
    assert "| 3.00x | **missed** |" in page and "| 0.50x | **missed** |" in page


def test_the_processes_beside_the_worker_are_reported_by_role() -> None:
    r = results()
    r["flightpath_score"][0]["side_rss_mb"] = {"model_sync": 250.0, "log_shipper": 60.0}
    r["flightpath_score"][1]["side_rss_mb"] = {"model_sync": 262.0, "log_shipper": 58.0}
    assert summary(r)["rows"]["flightpath_score"]["side_rss_mb"] == {"model_sync": 262.0, "log_shipper": 60.0}
    page = "\n".join(render(r))
    assert "model-sync process 262 MB" in page and "log shipper 60 MB" in page


def test_mlflow_without_any_level_under_budget_is_compared_on_max_throughput() -> None:
    s = summary(results(mlflow_p99=40.0))
    assert s["throughput_basis"] == "max req/s (mlflow never kept p99 under 10 ms)"
    assert math.isclose(s["ratios"]["throughput_vs_mlflow"], 3200 / 96)


def test_the_floor_feeds_the_model_what_serving_feeds_it() -> None:
    row: dict[str, Any] = {name: float(i) / 3 for i, name in enumerate(contract.NUMERIC_FEATURES)}
    row[contract.NUMERIC_FEATURES[0]] = None
    row.update({name: "UA" for name in contract.CATEGORICAL_FEATURES})
    floor, served = _feed(row), to_columns([row])
    assert set(floor) == set(served) == set(contract.MODEL_INPUTS)
    for name in contract.MODEL_INPUTS:
        assert floor[name].dtype == served[name].dtype and floor[name].shape == served[name].shape == (1,)
        np.testing.assert_array_equal(floor[name], served[name])
        assert floor[name].flags["C_CONTIGUOUS"]


def test_the_shadows_cost_is_the_live_servers_cpu_per_request_with_and_without() -> None:
    r = results()
    assert "With a shadow" not in "\n".join(render(r))  # runs before the shadow row render as before
    r["flightpath_predict_shadowed"] = [lv(1, 900, 1.0, 2.5, 1.0), lv(32, 1000, 30.0, 50.0, 1.155)]
    r["shadow_outcomes"] = {"sent": 9000.0, "dropped": 1000.0}
    page = "\n".join(render(r))
    assert "| 1 | 0.800 | 1.000 | 1.25x | 1.00 | 0 |" in page
    assert "| 32 | 0.770 | 1.155 | 1.50x | 30.00 | 0 |" in page
    assert "Copies during the run (10,000): dropped 10.0%, sent 90.0%." in page


def test_shadow_outcomes_are_read_from_the_metrics_page() -> None:
    from benchmarks.serving import shadow_outcomes

    page = (
        "# HELP flightpath_shadow_requests_total ...\n"
        'flightpath_shadow_requests_total{outcome="sent"} 120.0\n'
        'flightpath_shadow_requests_total{outcome="failed"} 3.0\n'
        'flightpath_shadow_requests_created{outcome="sent"} 1.7e9\n'
    )
    assert shadow_outcomes(page) == {"sent": 120.0, "failed": 3.0}
