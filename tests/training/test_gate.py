"""The promotion gate as a pure function: injected numbers in, a decision and its reasons out.

Nothing here trains, downloads or times anything: the evidence is written down, so each test
states exactly which number makes the gate pass or fail. `measure_latency` is tested with fake
sessions and a fake clock (its interleaving and its median), not with a stopwatch.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from flightpath.settings import Settings
from training.evidence import measure_latency, slice_scores
from training.gate import GateEvidence, GatePolicy, gate_decision

WINDOW = "2013-03-18..2013-03-31"
POLICY = GatePolicy()  # 0.01 AUC, slices >= 50 rows and 0.03 AUC, latency 1.5x
SLICES = {"origin=EWR": (400, 0.74), "carrier=EV": (120, 0.70), "month=3": (1200, 0.75), "carrier=OO": (12, 0.80)}
LATENCY = {1: 0.050, 256: 0.200}


def ev(auc: float = 0.75, slices: dict | None = None, latency: dict | None = None, **kw) -> GateEvidence:
    return GateEvidence(
        kw.pop("version", "2"),
        auc,
        kw.pop("window", WINDOW),
        SLICES if slices is None else slices,
        LATENCY if latency is None else latency,
    )


CHAMPION = GateEvidence("1", 0.75, WINDOW, SLICES, LATENCY)


def test_policy_defaults_are_the_stated_bounds_and_come_from_settings() -> None:
    assert (POLICY.auc_tolerance, POLICY.slice_min_rows, POLICY.slice_max_auc_drop, POLICY.latency_max_ratio) == (
        0.01,
        50,
        0.03,
        1.5,
    )
    s = Settings(gate_auc_tolerance=0.02, gate_latency_max_ratio=2.0)
    assert GatePolicy.from_settings(s) == GatePolicy(auc_tolerance=0.02, latency_max_ratio=2.0)


@pytest.mark.parametrize(("auc", "baseline", "passed"), [(0.72, 0.70, True), (0.70, 0.70, False), (0.65, 0.70, False)])
def test_first_version_must_beat_the_baseline(auc: float, baseline: float, passed: bool) -> None:
    d = gate_decision(ev(auc), None, baseline, POLICY)
    assert d.passed is passed and len(d.reasons) == 1
    assert "no champion yet" in d.reasons[0] and "baseline" in d.reasons[0] and f"{baseline:.4f}" in d.reasons[0]
    assert d.checks["baseline"]["passed"] is passed


def test_identical_evidence_passes_with_one_reason_per_check() -> None:
    d = gate_decision(ev(), CHAMPION, 0.70, POLICY)
    assert d.passed
    assert [r.split(":")[0] for r in d.reasons] == ["AUC", "slices", "latency"]
    assert "same test window" in d.reasons[0]
    # carrier=OO has 12 rows: below the 50-row floor, so it is not compared at all.
    assert set(d.checks["slices"]["compared"]) == {"origin=EWR", "carrier=EV", "month=3"}


@pytest.mark.parametrize(("auc", "passed"), [(0.741, True), (0.7399, False), (0.80, True)])
def test_auc_tolerance_is_the_boundary(auc: float, passed: bool) -> None:
    d = gate_decision(ev(auc), CHAMPION, 0.70, POLICY)
    assert d.passed is passed and d.checks["auc"]["passed"] is passed
    assert ("<" if not passed else ">=") + " champion 0.7500 - 0.01" in d.reasons[0]


def test_a_regressed_slice_blocks_even_when_overall_auc_is_better() -> None:
    worse_ev = {**SLICES, "carrier=EV": (120, 0.66)}  # -0.04 on EV, overall +0.01
    d = gate_decision(ev(0.76, slices=worse_ev), CHAMPION, 0.70, POLICY)
    assert not d.passed and d.checks["auc"]["passed"] and not d.checks["slices"]["passed"]
    assert d.checks["slices"]["regressed"] == ["carrier=EV"]
    assert "carrier=EV AUC 0.6600 < champion 0.7000 - 0.03" in d.reasons[1]


def test_a_small_slice_regression_within_the_bound_passes_and_names_the_worst() -> None:
    d = gate_decision(ev(slices={**SLICES, "carrier=EV": (120, 0.675)}), CHAMPION, 0.70, POLICY)
    assert d.passed and "worst carrier=EV 0.6750 vs champion 0.7000" in d.reasons[1]


def test_a_regression_in_a_slice_under_the_row_floor_is_ignored() -> None:
    d = gate_decision(ev(slices={**SLICES, "carrier=OO": (12, 0.40)}), CHAMPION, 0.70, POLICY)
    assert d.passed
    strict = GatePolicy(slice_min_rows=10)
    assert not gate_decision(ev(slices={**SLICES, "carrier=OO": (12, 0.40)}), CHAMPION, 0.70, strict).passed


@pytest.mark.parametrize(("p50_256", "passed"), [(0.29, True), (0.30, True), (0.31, False)])
def test_latency_bound_is_a_ratio_of_p50s(p50_256: float, passed: bool) -> None:
    d = gate_decision(ev(latency={1: 0.05, 256: p50_256}), CHAMPION, 0.70, POLICY)
    assert d.passed is passed and d.checks["latency"]["passed"] is passed
    assert d.checks["latency"]["ratio"]["256"] == pytest.approx(p50_256 / 0.200)
    if not passed:
        assert "> 1.5x at batch 256" in d.reasons[2]


def test_missing_evidence_is_recorded_as_not_evaluated_not_as_passed() -> None:
    d = gate_decision(ev(slices={}, latency={}), CHAMPION, 0.70, POLICY)
    assert d.passed  # the AUC check passed; the others could not run
    assert d.checks["slices"]["passed"] is None and d.checks["latency"]["passed"] is None
    assert d.reasons[1] == "slices: not evaluated (no per-slice scores)"
    assert d.reasons[2].startswith("latency: not evaluated")


def test_a_champion_scored_on_another_window_is_compared_on_auc_only_and_said_so() -> None:
    old = GateEvidence("1", 0.75, "2013-03-04..2013-03-17", SLICES, LATENCY)
    d = gate_decision(ev(0.745), old, 0.70, POLICY)
    assert "own window 2013-03-04..2013-03-17" in d.reasons[0] and not d.checks["auc"]["same_window"]
    assert d.checks["slices"]["passed"] is None  # slices from different flights are not comparable


def test_slice_scores_cover_origin_carrier_month_and_skip_single_class_slices() -> None:
    rows = pd.DataFrame(
        {
            "origin": ["EWR", "EWR", "JFK", "JFK", "LGA"],
            "carrier": ["EV", "EV", "EV", "DL", "DL"],
            "sched_month": [3.0] * 5,
            "delayed": [1.0, 0.0, 1.0, 0.0, 0.0],
        }
    )
    scores = slice_scores(rows, np.array([0.9, 0.1, 0.2, 0.8, 0.3]))
    assert scores["origin=EWR"] == (2, 1.0) and scores["origin=JFK"] == (2, 0.0)
    assert "origin=LGA" not in scores and "carrier=DL" not in scores  # one class only: no AUC
    assert scores["month=3"][0] == 5 and scores["carrier=EV"][0] == 3


class FakeInput:
    def __init__(self, name: str, type_: str) -> None:
        self.name, self.type = name, type_


class FakeSession:
    """Records calls into a shared log; `cost` is how far each call advances the fake clock."""

    def __init__(self, name: str, log: list[tuple[str, int]], clock: list[float], cost: float) -> None:
        self.name, self.log, self.clock, self.cost = name, log, clock, cost

    def get_inputs(self) -> list[FakeInput]:
        return [FakeInput("origin", "tensor(string)"), FakeInput("wx_temp", "tensor(float)")]

    def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        batch = len(feeds["wx_temp"])
        self.log.append((self.name, batch))
        self.clock[0] += self.cost * batch
        return [np.zeros(batch, dtype=np.float32)]


def test_measure_latency_interleaves_the_two_models_on_the_same_batches() -> None:
    log: list[tuple[str, int]] = []
    clock = [0.0]
    a = FakeSession("a", log, clock, cost=2e-6)
    b = FakeSession("b", log, clock, cost=1e-6)
    rows = pd.DataFrame({"origin": ["EWR", "JFK", "LGA"] * 10, "wx_temp": np.arange(30.0)})
    out = measure_latency(a, b, rows, rounds=6, batch_sizes=(1, 64), clock=lambda: clock[0])
    # Per model: 5 warm-up calls, then 6 timed calls at each batch size.
    assert sum(1 for n, _ in log if n == "a") == sum(1 for n, _ in log if n == "b") == 2 * (5 + 6)
    timed = [n for n, bs in log if bs == 64][10:]  # after the warm-ups at batch 64
    assert timed == list(itertools.chain.from_iterable([["a", "b"], ["b", "a"]] * 3))  # ABBA
    assert all(bs in (1, 64) for _, bs in log)  # batch 64 from 30 rows: sampled with replacement
    assert out["challenger"] == {1: pytest.approx(2e-3), 64: pytest.approx(128e-3)}  # ms
    assert out["champion"] == {1: pytest.approx(1e-3), 64: pytest.approx(64e-3)}
