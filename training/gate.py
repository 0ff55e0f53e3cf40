"""The promotion gate: CI for models, and a pure function of numbers (no I/O, no clock).

    decision = gate_decision(challenger_evidence, champion_evidence, baseline_auc, GatePolicy.from_settings(s))

The evidence is gathered by training/evidence.py (both ONNX models re-scored on the challenger's
test window, per slice, and timed interleaved); the decision is taken here, by code that tests feed
injected numbers. Checks against a champion, all on the same window:
  (a) ROC-AUC not below the champion's minus `auc_tolerance` (0.01);
  (b) no origin / carrier / month slice with >= `slice_min_rows` (50) labelled rows loses more than
      `slice_max_auc_drop` (0.03) ROC-AUC;
  (c) p50 per-batch ONNX latency (batch 1 and 256) at most `latency_max_ratio` (1.5x) the champion's.
With no champion yet, the challenger must beat the logistic-regression baseline. The bounds are
settings (`gate_*`), so an operator changes them without touching code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flightpath.settings import Settings


def _settings_default(name: str) -> Any:
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class GatePolicy:
    """The bounds of the promotion gate. They live in Settings (`gate_*`); the defaults here are
    Settings' defaults, read from it, so a test can build a policy without an environment."""

    auc_tolerance: float = _settings_default("gate_auc_tolerance")
    slice_min_rows: int = _settings_default("gate_slice_min_rows")
    slice_max_auc_drop: float = _settings_default("gate_slice_max_auc_drop")
    latency_max_ratio: float = _settings_default("gate_latency_max_ratio")

    @classmethod
    def from_settings(cls, settings: Settings) -> GatePolicy:
        return cls(
            auc_tolerance=settings.gate_auc_tolerance,
            slice_min_rows=settings.gate_slice_min_rows,
            slice_max_auc_drop=settings.gate_slice_max_auc_drop,
            latency_max_ratio=settings.gate_latency_max_ratio,
        )


@dataclass(frozen=True)
class GateEvidence:
    """What the gate knows about one model, all measured on `window`.

    slices: "origin=EWR" / "carrier=EV" / "month=1" -> (labelled rows in the window, ROC-AUC).
    latency_p50_ms: batch size -> p50 milliseconds per batch, measured interleaved with the other
        model (`measure_latency`); empty when not measured.
    """

    version: str | None
    auc: float
    window: str
    slices: dict[str, tuple[int, float]] = field(default_factory=dict)
    latency_p50_ms: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str]  # one per check, passed or not, with the numbers compared
    checks: dict[str, Any] = field(default_factory=dict)  # the same, as JSON-ready numbers


def gate_decision(
    challenger: GateEvidence, champion: GateEvidence | None, baseline_auc: float, policy: GatePolicy
) -> GateDecision:
    """Decide promotion from numbers only (no I/O, no clock).

    Args:
        challenger: the new version's evidence on its test window.
        champion: the current champion's evidence (on the same window when it could be re-scored),
            or None when there is no champion yet.
        baseline_auc: the logistic-regression baseline's test AUC on the challenger's window.
        policy: tolerances.
    Returns:
        GateDecision: passed only if every evaluated check passed. A check without evidence
        (no slices, no latency) is recorded as not evaluated, not silently passed.
    """
    if champion is None:
        ok = challenger.auc > baseline_auc
        verb = "beats" if ok else "does not beat"
        prefix = "no champion yet; " if ok else "no champion yet, but "
        reason = (
            f"{prefix}test AUC {challenger.auc:.4f} {verb} the logistic-regression baseline "
            f"{baseline_auc:.4f} on {challenger.window}"
        )
        first = {"baseline": {"passed": ok, "challenger_auc": challenger.auc, "baseline_auc": baseline_auc}}
        return GateDecision(ok, [reason], first)

    reasons: list[str] = []
    checks: dict[str, Any] = {}
    same_window = champion.window == challenger.window

    # (a) overall AUC
    if same_window:
        basis = f"champion v{champion.version} scored on the same test window {challenger.window}"
    else:
        basis = (
            f"champion v{champion.version}'s AUC on its own window {champion.window}, not re-scored "
            f"on {challenger.window}"
        )
    floor = champion.auc - policy.auc_tolerance
    auc_ok = challenger.auc >= floor
    reasons.append(
        f"AUC: test AUC {challenger.auc:.4f} {'>=' if auc_ok else '<'} champion {champion.auc:.4f} "
        f"- {policy.auc_tolerance} ({basis})"
    )
    checks["auc"] = {
        "passed": auc_ok,
        "challenger": challenger.auc,
        "champion": champion.auc,
        "tolerance": policy.auc_tolerance,
        "same_window": same_window,
    }

    # (b) slices
    if not same_window or not challenger.slices or not champion.slices:
        why = "champion not scored on this window" if not same_window else "no per-slice scores"
        reasons.append(f"slices: not evaluated ({why})")
        checks["slices"] = {"passed": None, "why": why}
    else:
        eligible = sorted(
            k for k, (rows, _) in challenger.slices.items() if rows >= policy.slice_min_rows and k in champion.slices
        )
        compared = {k: (challenger.slices[k][0], challenger.slices[k][1], champion.slices[k][1]) for k in eligible}
        regressed = [k for k, (_, new, old) in compared.items() if new < old - policy.slice_max_auc_drop]
        if regressed:
            reasons.append(
                "slices: "
                + ", ".join(
                    f"{k} AUC {compared[k][1]:.4f} < champion {compared[k][2]:.4f} - {policy.slice_max_auc_drop}"
                    for k in regressed
                )
                + f" ({compared[regressed[0]][0]} rows in {regressed[0]})"
            )
        elif compared:
            worst = min(compared, key=lambda k: compared[k][1] - compared[k][2])
            reasons.append(
                f"slices: none of {len(compared)} slices (origin/carrier/month, >= {policy.slice_min_rows} "
                f"labelled rows) lost more than {policy.slice_max_auc_drop} AUC; worst {worst} "
                f"{compared[worst][1]:.4f} vs champion {compared[worst][2]:.4f}"
            )
        else:
            reasons.append(f"slices: no slice has >= {policy.slice_min_rows} labelled rows")
        checks["slices"] = {
            "passed": not regressed,
            "min_rows": policy.slice_min_rows,
            "max_auc_drop": policy.slice_max_auc_drop,
            "regressed": regressed,
            "compared": {k: {"rows": r, "challenger": a, "champion": b} for k, (r, a, b) in compared.items()},
        }

    # (c) latency
    sizes = sorted(set(challenger.latency_p50_ms) & set(champion.latency_p50_ms))
    if not sizes:
        reasons.append("latency: not evaluated (no interleaved measurement)")
        checks["latency"] = {"passed": None}
    else:
        ratios = {b: challenger.latency_p50_ms[b] / champion.latency_p50_ms[b] for b in sizes}
        slow = [b for b in sizes if ratios[b] > policy.latency_max_ratio]
        detail = ", ".join(
            f"batch {b}: {challenger.latency_p50_ms[b]:.3f} ms vs {champion.latency_p50_ms[b]:.3f} ms "
            f"({ratios[b]:.2f}x)"
            for b in sizes
        )
        verdict = (
            f"> {policy.latency_max_ratio}x at batch {', '.join(map(str, slow))}"
            if slow
            else (f"<= {policy.latency_max_ratio}x")
        )
        reasons.append(f"latency: p50 per batch {verdict} ({detail})")
        checks["latency"] = {
            "passed": not slow,
            "max_ratio": policy.latency_max_ratio,
            "ratio": {str(b): ratios[b] for b in sizes},
            "challenger_p50_ms": {str(b): challenger.latency_p50_ms[b] for b in sizes},
            "champion_p50_ms": {str(b): champion.latency_p50_ms[b] for b in sizes},
        }

    passed = all(check["passed"] is not False for check in checks.values())
    return GateDecision(passed, reasons, checks)


# --- gathering the evidence -----------------------------------------------------------------------
