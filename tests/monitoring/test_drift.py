"""drift_report: what it flags, what it writes, what it refuses.

Each Evidently run costs ~2-3 s here (mostly plotly building the HTML), so the runs are shared
by module-scoped fixtures and every test asserts on one of four reports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance

from features.contract import LABEL, MODEL_INPUTS
from monitoring.drift import DRIFT_ALERT_SHARE, drift_report

N = 1500  # > 1000 reference rows: Evidently's distance regime, the one real windows are in


def _strict_json(path: Path) -> dict:
    def no_nan(token: str) -> None:
        raise AssertionError(f"{path.name} holds {token}: not strict JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=no_nan)


@pytest.fixture(scope="module")
def same(tmp_path_factory, frame_factory) -> dict[str, Any]:
    """Two samples of one distribution, with labels that trickle in (100 known, then 10 known)."""
    reference, current = frame_factory(N, seed=1), frame_factory(N, seed=2)
    reference[LABEL] = np.nan
    reference.loc[:99, LABEL] = [1.0] * 25 + [0.0] * 75  # 100 labelled, 25% delayed
    current[LABEL] = np.nan
    current.loc[:9, LABEL] = [1.0] * 5 + [0.0] * 5  # labels still arriving: 10 known
    before = (reference.copy(), current.copy())
    summary = drift_report(reference, current, tmp_path_factory.mktemp("same"), "same")
    return {"summary": summary, "inputs": (reference, current), "before": before}


@pytest.fixture(scope="module")
def shifted(tmp_path_factory, frame_factory) -> dict[str, Any]:
    """Three inputs moved (two numeric, one categorical); the other seventeen untouched."""
    out = tmp_path_factory.mktemp("shifted") / "reports" / "drift"  # does not exist yet
    reference = frame_factory(N, seed=1)
    current = frame_factory(
        N, seed=2, shift={"wx_temp": 30.0, "carrier_delay_rate_7d": 0.1}, origin_probs=(0.8, 0.1, 0.1)
    )
    current["wx_dewp"] = current["wx_dewp"] * 3 - 50  # same mean, 3x the spread (for the order test)
    return {
        "summary": drift_report(reference, current, out, "shifted"),
        "out": out,
        "inputs": (reference, current),
    }


def test_same_distribution_has_no_drift(same):
    summary = same["summary"]
    assert summary["n_columns"] == len(MODEL_INPUTS)
    assert summary["drifted_columns"] == []
    assert summary["drift_share"] == 0.0 and summary["drifted_count"] == 0
    assert summary["drift_detected"] is False
    assert set(summary["drift_scores"]) == set(MODEL_INPUTS)
    for column, test in summary["column_tests"].items():
        score = summary["drift_scores"][column]
        if "p_value" in test["method"]:  # few non-missing values (wx_wind_gust): a test, low = drift
            assert score >= test["threshold"], column
        else:  # a distance, high = drift
            assert 0 <= score < test["threshold"], column


def test_most_columns_use_a_distance_in_big_windows(same):
    # Evidently chooses per column by non-missing reference rows: 70%-missing gusts (~450 values)
    # fall back to a KS p-value; everything else (>1000 values) gets a distance.
    methods = {c: t["method"] for c, t in same["summary"]["column_tests"].items()}
    assert [c for c, m in methods.items() if "p_value" in m] == ["wx_wind_gust"]
    assert methods["wx_temp"].startswith("Wasserstein") and methods["origin"].startswith("Jensen-Shannon")


def test_shifted_columns_are_flagged_and_only_them(shifted):
    summary = shifted["summary"]
    # contract order
    assert summary["drifted_columns"] == ["wx_temp", "wx_dewp", "carrier_delay_rate_7d", "origin"]
    assert summary["drifted_count"] == 4
    assert summary["drift_share"] == pytest.approx(4 / len(MODEL_INPUTS))
    assert summary["drift_detected"] is (4 / len(MODEL_INPUTS) >= DRIFT_ALERT_SHARE)
    assert summary["drift_scores"]["wx_temp"] > 1.0  # a 3-sigma shift: ~3 std in normed Wasserstein
    assert summary["drift_scores"]["wx_temp"] > 10 * summary["drift_scores"]["wx_wind_speed"]  # untouched
    assert summary["column_tests"]["origin"]["kind"] == "categorical"
    assert summary["column_tests"]["wx_temp"]["kind"] == "numerical"


def test_reference_and_current_are_not_swapped(shifted):
    # Evidently's run() takes current FIRST. Normed Wasserstein divides by the reference std, so
    # with a 3x wider current window the right order gives a score 3x the swapped one.
    reference, current = (frame["wx_dewp"].dropna() for frame in shifted["inputs"])
    distance = wasserstein_distance(reference, current)
    assert shifted["summary"]["drift_scores"]["wx_dewp"] == pytest.approx(distance / np.std(reference))
    assert shifted["summary"]["drift_scores"]["wx_dewp"] > 2 * distance / np.std(current)


def test_writes_html_and_strict_json_atomically(shifted):
    summary, out = shifted["summary"], shifted["out"]
    html, js = out / "shifted.html", out / "shifted.json"
    assert summary["html_path"] == str(html) and summary["json_path"] == str(js)
    assert html.stat().st_size > 100_000 and "<html" in html.read_text(encoding="utf-8")[:2000].lower()
    document = _strict_json(js)
    assert document["summary"] == json.loads(json.dumps(summary, allow_nan=False))
    metrics = document["evidently"]["metrics"]
    counts = [m for m in metrics if m["metric_name"].startswith("DriftedColumnsCount")]
    assert counts[0]["value"]["count"] == 4
    assert sorted(p.name for p in out.iterdir()) == ["shifted.html", "shifted.json"]  # no temp files left
    assert summary["reference_rows"] == N and summary["current_rows"] == N
    assert 0 < summary["seconds"] < 120


def test_label_rate_counts_only_labelled_rows(same):
    assert same["summary"]["label_rate"] == {
        "reference": {"labelled_rows": 100, "rate": 0.25},
        "current": {"labelled_rows": 10, "rate": 0.5},
    }


def test_inputs_are_not_modified(same):
    for after, before in zip(same["inputs"], same["before"], strict=True):
        pd.testing.assert_frame_equal(after, before)


def test_small_windows_use_p_values_and_still_read_the_right_way(tmp_path, frame_factory):
    # <= 1000 reference rows: Evidently switches to KS / chi-square p-values, where LOW means drift.
    reference = frame_factory(400, seed=3)
    current = frame_factory(400, seed=4, shift={"wx_temp": 30.0})
    others = [c for c in MODEL_INPUTS if c != "wx_temp"]
    current[others] = reference[others]  # identical values: no false alarm possible from sampling

    summary = drift_report(reference, current, tmp_path, "small")

    assert summary["drifted_columns"] == ["wx_temp"]
    assert "p_value" in summary["column_tests"]["wx_temp"]["method"]
    assert summary["drift_scores"]["wx_temp"] < 1e-6
    assert summary["drift_scores"]["wx_pressure"] > 0.5  # identical values: p close to 1


def test_a_feature_that_stops_arriving_counts_as_drift(tmp_path, frame_factory):
    reference = frame_factory(N, seed=1)
    current = frame_factory(N, seed=2).drop(columns=[LABEL])  # e.g. a prediction log: no labels yet
    current["wx_visib"] = np.nan  # the feed broke in the current window
    reference["plane_engines"] = np.nan  # never had values in either window:
    current["plane_engines"] = np.nan  # nothing to compare

    summary = drift_report(reference, current, tmp_path, "empty")

    assert summary["empty_columns"] == {"wx_visib": "current", "plane_engines": "both"}
    assert summary["drifted_columns"] == ["wx_visib"]
    assert summary["drift_scores"]["wx_visib"] is None
    assert "plane_engines" not in summary["drift_scores"]
    assert summary["n_columns"] == len(MODEL_INPUTS) - 1
    assert summary["drift_share"] == pytest.approx(1 / (len(MODEL_INPUTS) - 1))
    assert summary["label_rate"]["current"] == {"labelled_rows": 0, "rate": None}
    assert summary["label_rate"]["reference"]["labelled_rows"] > 1000
    _strict_json(tmp_path / "empty.json")


@pytest.mark.parametrize("which", ["reference", "current"])
def test_empty_frame_is_refused(tmp_path, frame_factory, which):
    frames = {"reference": frame_factory(50, seed=1), "current": frame_factory(50, seed=2)}
    frames[which] = frames[which].iloc[:0]
    with pytest.raises(ValueError, match=rf"{which} frame is empty"):
        drift_report(frames["reference"], frames["current"], tmp_path, "x")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("which", ["reference", "current"])
def test_missing_columns_are_named(tmp_path, frame_factory, which):
    frames = {"reference": frame_factory(50, seed=1), "current": frame_factory(50, seed=2)}
    frames[which] = frames[which].drop(columns=["wx_temp", "dest"])
    with pytest.raises(ValueError, match=rf"{which} frame lacks model input column\(s\): wx_temp, dest"):
        drift_report(frames["reference"], frames["current"], tmp_path, "x")
    assert list(tmp_path.iterdir()) == []


def test_text_in_a_numeric_column_is_refused(tmp_path, frame_factory):
    current = frame_factory(50, seed=2)
    current["plane_seats"] = current["plane_seats"].astype(str)
    with pytest.raises(ValueError, match="non-numeric .*plane_seats"):
        drift_report(frame_factory(50, seed=1), current, tmp_path, "x")


def test_all_inputs_empty_is_refused(tmp_path, frame_factory):
    reference, current = frame_factory(50, seed=1), frame_factory(50, seed=2)
    for frame in (reference, current):
        frame[list(MODEL_INPUTS)] = np.nan
    with pytest.raises(ValueError, match="no model input column has values in both windows"):
        drift_report(reference, current, tmp_path, "x")


# --- the fast verdict (drift_verdict): Evidently's tests without the report ---------------------------


@pytest.mark.parametrize("which", ["same", "shifted"])
def test_the_fast_verdict_agrees_with_the_report_column_by_column(which, same, shifted):
    from monitoring.drift import drift_verdict

    case = {"same": same, "shifted": shifted}[which]
    report = case["summary"]
    verdict = drift_verdict(*case["inputs"])
    assert verdict["drifted_columns"] == report["drifted_columns"]
    assert verdict["drift_share"] == report["drift_share"]
    assert verdict["column_tests"] == report["column_tests"]
    for column, score in report["drift_scores"].items():
        assert verdict["drift_scores"][column] == pytest.approx(score, rel=1e-9), column


def test_drift_sanity_the_reference_against_itself_is_flagged_at_most_once_in_20(frame_factory):
    """A day's worth of rows drawn from the reference itself: a drift alarm here is a false alarm."""
    from monitoring.drift import drift_verdict

    reference = frame_factory(5000, seed=11)
    alarms = 0
    for seed in range(20):
        rows = np.random.default_rng(seed).integers(0, len(reference), 900)
        alarms += drift_verdict(reference, reference.iloc[rows].reset_index(drop=True))["drift_detected"]
    assert alarms <= 1


def test_drift_sanity_one_standard_deviation_in_three_inputs_is_flagged_20_of_20(frame_factory):
    from monitoring.drift import drift_verdict

    moved = ["wx_temp", "origin_dep_delay_2h", "route_delay_rate_14d"]
    reference = frame_factory(5000, seed=12)
    one_sd = {c: float(reference[c].std()) for c in moved}
    for seed in range(20):
        current = frame_factory(900, seed=100 + seed, shift=one_sd)
        flagged = drift_verdict(reference, current)["drifted_columns"]
        assert set(moved) <= set(flagged), (seed, flagged)
