"""Model registry: register a verified run as a version, gate its promotion, roll back.

Aliases, not stages: an alias is a movable name on one version (`champion`, `challenger`);
serving loads `models:/flight-delay@champion`. Moving the alias *is* the deployment, and
moving it back is the rollback; versions themselves never change.

    register_and_promote(settings, run_id, frame=None)   new version -> @challenger; gate -> maybe @champion
    rollback(settings)                                   @champion -> the version in its previous_champion tag

The gate is CI for models, and a pure function of numbers (`gate_decision`): the evidence is
gathered here (both ONNX models re-scored on the challenger's test window, per slice, and timed
interleaved by `measure_latency`), the decision is taken by code that tests feed injected
numbers. Checks against a champion, all on the same window:
  (a) ROC-AUC not below the champion's minus `auc_tolerance` (0.01);
  (b) no origin / carrier / month slice with >= `slice_min_rows` (50) labelled rows loses more than
      `slice_max_auc_drop` (0.03) ROC-AUC;
  (c) p50 per-batch ONNX latency (batch 1 and 256) at most `latency_max_ratio` (1.5x) the champion's.
With no champion yet, the challenger must beat the logistic-regression baseline. The decision and
every reason go on the version: `gate.decision`, `gate.reason`, `gate.checks` (JSON numbers).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import onnxruntime as ort
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from onnxruntime.capi.onnxruntime_pybind11_state import Fail as OrtFail
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument as OrtInvalidArgument
from sklearn.metrics import roc_auc_score

from features.contract import LABEL, MODEL_INPUTS
from flightpath.artifact import (
    CHALLENGER,
    CHAMPION,
    OUTPUT_NAME,
    TAG_PREVIOUS_CHAMPION,
    TAG_SHA256,
    new_session,
    sha256_hex,
)
from flightpath.registry_access import download_version
from flightpath.settings import Settings
from training.export import onnx_feeds, predict_onnx
from training.split import local_days
from training.tracking import client, configure_mlflow

# A challenger may be up to 0.01 ROC-AUC below the champion and still be promoted: fresher data
# is worth a hair of AUC, and differences that small are within the noise of a two-week window.
AUC_TOLERANCE = 0.01
SLICE_MIN_ROWS = 50
SLICE_MAX_AUC_DROP = 0.03
LATENCY_MAX_RATIO = 1.5
LATENCY_ROUNDS = 200
LATENCY_BATCH_SIZES = (1, 256)
SLICE_COLUMNS = ("origin", "carrier", "month")
# Optional run artifact: the test-window rows (raw features + label). When train.py logs it
# (`log_test_rows` inside the model run), registration needs no frame to gather slice evidence.
TEST_ROWS_ARTIFACT = "gate/test_rows.parquet"
# A model that cannot score a frame: a column it needs is absent (KeyError) or mistyped (ORT errors).
_SCORING_ERRORS = (KeyError, ValueError, RuntimeError, OrtFail, OrtInvalidArgument)


class RegistryError(RuntimeError):
    """A registry operation cannot proceed (unverified run, no champion, checksum mismatch...)."""


def version_by_alias(c: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version behind an alias, or None if the alias (or the registered model) does not exist."""
    try:
        return c.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def download_model(settings: Settings, version: str | int, dst: Path) -> Path:
    """Download a version's artifacts into `dst` and return the path of its model.onnx.

    Layout of a version's artifacts (mlflow.onnx flavour): model.onnx, MLmodel, conda.yaml,
    python_env.yaml, requirements.txt, input_example.json, serving_input_example.json at the root.
    """
    try:
        return download_version(settings.mlflow_tracking_uri, settings.model_name, version, dst)
    except FileNotFoundError as exc:
        raise RegistryError(str(exc)) from exc


# --- the gate: a pure function of numbers ------------------------------------------------------


@dataclass(frozen=True)
class GatePolicy:
    """The stated bounds of the promotion gate (defaults = the documented ones)."""

    auc_tolerance: float = AUC_TOLERANCE
    slice_min_rows: int = SLICE_MIN_ROWS
    slice_max_auc_drop: float = SLICE_MAX_AUC_DROP
    latency_max_ratio: float = LATENCY_MAX_RATIO

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


def slice_keys(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """The slice each row belongs to, per slice column (month = local month of departure)."""
    if "sched_month" in rows.columns:
        month = rows["sched_month"].to_numpy(dtype=float).astype(int)
    else:
        month = np.array([d.month for d in local_days(rows)])
    return {
        "origin": rows["origin"].astype(str).to_numpy(),
        "carrier": rows["carrier"].astype(str).to_numpy(),
        "month": month.astype(str),
    }


def slice_scores(rows: pd.DataFrame, p: np.ndarray) -> dict[str, tuple[int, float]]:
    """ "column=value" -> (labelled rows, ROC-AUC) for every slice holding both classes."""
    y = rows[LABEL].to_numpy(dtype=float)
    out: dict[str, tuple[int, float]] = {}
    for column, keys in slice_keys(rows).items():
        for value in np.unique(keys):
            mask = keys == value
            if len(np.unique(y[mask])) == 2:
                out[f"{column}={value}"] = (int(mask.sum()), float(roc_auc_score(y[mask], p[mask])))
    return out


def _feeds_for(sess: Any, rows: pd.DataFrame) -> dict[str, np.ndarray]:
    inputs = sess.get_inputs()
    strings = [i.name for i in inputs if i.type == "tensor(string)"]
    numbers = [i.name for i in inputs if i.type != "tensor(string)"]
    return onnx_feeds(rows, numbers, strings)


def measure_latency(
    challenger: bytes | Any,
    champion: bytes | Any,
    rows: pd.DataFrame,
    rounds: int = LATENCY_ROUNDS,
    batch_sizes: Sequence[int] = LATENCY_BATCH_SIZES,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, dict[int, float]]:
    """p50 milliseconds per `run` call of two ONNX models, interleaved on the same rows.

    Each round times both models on the same batch, alternating which goes first (ABBA), so a
    noisy neighbour, a CPU frequency change or a cache effect hits both alike; the gate then
    compares a ratio, not absolute numbers from different moments.

    Args:
        challenger, champion: model bytes, or objects with `get_inputs()`/`run()` (tests).
        rows: raw feature rows; sampled with replacement when fewer than a batch.
        rounds: timed rounds per batch size (after 5 untimed warm-up calls each).
        clock: seconds; injectable so tests need not time anything.
    Returns:
        {"challenger": {batch: p50_ms}, "champion": {batch: p50_ms}}.
    """
    sessions = {
        name: new_session(m) if isinstance(m, bytes) else m
        for name, m in (("challenger", challenger), ("champion", champion))
    }
    samples: dict[str, dict[int, list[float]]] = {n: {b: [] for b in batch_sizes} for n in sessions}
    for b in batch_sizes:
        batch = rows.sample(n=b, replace=len(rows) < b, random_state=b)
        feeds = {n: _feeds_for(sess, batch) for n, sess in sessions.items()}
        for n, sess in sessions.items():
            for _ in range(5):
                sess.run([OUTPUT_NAME], feeds[n])
        for r in range(rounds):
            order = ("challenger", "champion") if r % 2 == 0 else ("champion", "challenger")
            for n in order:
                t0 = clock()
                sessions[n].run([OUTPUT_NAME], feeds[n])
                samples[n][b].append((clock() - t0) * 1000.0)
    return {n: {b: statistics.median(v) for b, v in per.items()} for n, per in samples.items()}


def _score(model: bytes | ort.InferenceSession, rows: pd.DataFrame) -> tuple[float, dict[str, tuple[int, float]]]:
    p = np.asarray(predict_onnx(model, rows), dtype=float)
    return float(roc_auc_score(rows[LABEL].to_numpy(dtype=float), p)), slice_scores(rows, p)


def score_champion(settings: Settings, frame: pd.DataFrame) -> dict[str, Any]:
    """ROC-AUC of the current champion on `frame` (labelled rows with raw feature columns).

    Args:
        settings: registry location and model name.
        frame: e.g. a new run's test part, so challenger and champion are scored on the same rows.
    Returns:
        {"version", "auc", "rows", "slices" ({"origin=EWR": {"rows", "auc"}, ...})}, or
        {"skipped": reason} when there is no champion or it cannot be scored on this frame (e.g.
        it expects a feature the frame does not have).
    """
    c = client(settings)
    champion = version_by_alias(c, settings.model_name, CHAMPION)
    if champion is None:
        return {"skipped": "no champion yet"}
    with tempfile.TemporaryDirectory() as tmp:
        data = download_model(settings, champion.version, Path(tmp)).read_bytes()
    try:
        auc, slices = _score(data, frame)
    except _SCORING_ERRORS as exc:
        return {"skipped": f"champion v{champion.version} cannot score this frame: {exc}"}
    return {
        "version": str(champion.version),
        "auc": auc,
        "rows": len(frame),
        "slices": {k: {"rows": r, "auc": a} for k, (r, a) in slices.items()},
    }


def log_test_rows(test: pd.DataFrame) -> None:
    """Log a test window's rows (raw model inputs, label, day) into the *active* run, so that
    registration can re-score champion and challenger on them without being given the frame."""
    columns = [c for c in (*MODEL_INPUTS, LABEL, "day") if c in test.columns]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(TEST_ROWS_ARTIFACT).name
        test[columns].assign(day=test["day"].astype(str)).to_parquet(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=str(Path(TEST_ROWS_ARTIFACT).parent))


def _test_rows(
    c: MlflowClient, settings: Settings, run: Any, frame: pd.DataFrame | None
) -> tuple[pd.DataFrame | None, str]:
    """The challenger's test-window rows: from the run's artifact, else cut from `frame`."""
    folder = str(Path(TEST_ROWS_ARTIFACT).parent)
    if any(a.path == TEST_ROWS_ARTIFACT for a in c.list_artifacts(run.info.run_id, folder)):
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(
                run_id=run.info.run_id,
                artifact_path=TEST_ROWS_ARTIFACT,
                dst_path=tmp,
                tracking_uri=settings.mlflow_tracking_uri,
            )
            return pd.read_parquet(local), "run artifact"
    if frame is None:
        return None, "no test rows (pass the training frame or log them with log_test_rows)"
    start, _, end = run.data.tags["test_window"].partition("..")
    labelled = frame[~frame["cancelled"].astype(bool) & frame[LABEL].notna()]
    days = local_days(labelled).astype(str)
    rows = labelled[(days >= start) & (days <= end)].reset_index(drop=True)
    if rows.empty:
        return None, f"the frame has no labelled rows in the test window {start}..{end}"
    return rows, "frame"


def _recorded_champion_evidence(c: MlflowClient, run: Any, champion: ModelVersion) -> GateEvidence:
    """No rows to re-score on: the training-time score of this champion on the same window, else
    the champion's own recorded AUC on its own window (the gate says which)."""
    metrics, tags = run.data.metrics, run.data.tags
    if tags.get("champion.version_scored") == str(champion.version) and "champion_test_auc" in metrics:
        return GateEvidence(str(champion.version), metrics["champion_test_auc"], tags["test_window"])
    champion_run = c.get_run(str(champion.run_id))
    return GateEvidence(
        str(champion.version), champion_run.data.metrics["test_auc"], champion_run.data.tags.get("test_window", "?")
    )


def _evidence(
    c: MlflowClient,
    settings: Settings,
    run: Any,
    challenger_bytes: bytes,
    version: str,
    champion: ModelVersion | None,
    frame: pd.DataFrame | None,
) -> tuple[GateEvidence, GateEvidence | None, dict[str, Any]]:
    """Challenger and champion evidence for the gate, plus notes on where it came from."""
    window = run.data.tags["test_window"]
    recorded = GateEvidence(version, run.data.metrics["test_auc"], window)
    if champion is None:
        return recorded, None, {"evidence": "no champion: training-time test AUC vs baseline"}
    rows, source = _test_rows(c, settings, run, frame)
    if rows is None:
        return recorded, _recorded_champion_evidence(c, run, champion), {"evidence": source}
    with tempfile.TemporaryDirectory() as tmp:
        champion_bytes = download_model(settings, champion.version, Path(tmp)).read_bytes()
    try:
        champion_auc, champion_slices = _score(champion_bytes, rows)
    except _SCORING_ERRORS as exc:
        note = f"champion v{champion.version} cannot score the test rows: {exc}"
        return recorded, _recorded_champion_evidence(c, run, champion), {"evidence": note[:500]}
    auc, slices = _score(challenger_bytes, rows)
    latency = measure_latency(challenger_bytes, champion_bytes, rows, rounds=settings.gate_latency_rounds)
    notes = {
        "evidence": f"both models re-scored on {len(rows)} test rows ({source})",
        "latency_rounds": settings.gate_latency_rounds,
    }
    return (
        GateEvidence(version, auc, window, slices, latency["challenger"]),
        GateEvidence(str(champion.version), champion_auc, window, champion_slices, latency["champion"]),
        notes,
    )


# --- registry operations --------------------------------------------------------------------------


def _describe(c: MlflowClient, settings: Settings, version: str) -> dict[str, Any]:
    mv = c.get_model_version(settings.model_name, version)
    champion = version_by_alias(c, settings.model_name, CHAMPION)
    checks = mv.tags.get("gate.checks")
    return {
        "model_name": settings.model_name,
        "version": str(mv.version),
        "model_uri": f"models:/{settings.model_name}/{mv.version}",
        "aliases": sorted(mv.aliases),
        "champion": str(champion.version) if champion else None,
        "decision": mv.tags.get("gate.decision"),
        "reason": mv.tags.get("gate.reason"),
        "checks": json.loads(checks) if checks else None,
        TAG_PREVIOUS_CHAMPION: mv.tags.get(TAG_PREVIOUS_CHAMPION),
        "sha256": mv.tags.get(TAG_SHA256),
        "run_id": mv.run_id,
    }


def register_and_promote(settings: Settings, run_id: str, frame: pd.DataFrame | None = None) -> dict[str, Any]:
    """Register a trained run's ONNX model, alias it `challenger`, and run the promotion gate.

    Idempotent: registering a run that already has a version returns that version unchanged (an
    Airflow retry must not create a second version or re-run the gate).

    Args:
        settings: MLflow location, settings.model_name, the gate_* tolerances.
        run_id: a model run from train_and_export (finished, parity gate passed).
        frame: optional training frame; its rows in the run's test window are used to re-score
            champion and challenger (overall, per slice, latency) when the run did not log them
            (TEST_ROWS_ARTIFACT). Without either, the gate compares AUC only and says so.
    Returns:
        {"model_name", "version", "model_uri", "aliases", "champion", "decision" ("promoted" |
        "rejected"), "reason", "checks", "previous_champion", "sha256", "run_id",
        "already_registered"}.
    Raises:
        RegistryError: the run did not pass the export gate, or the stored bytes do not match the
            checksum recorded at training time.
    """
    configure_mlflow(settings)
    c = client(settings)
    name = settings.model_name
    run = c.get_run(run_id)
    tags = run.data.tags
    if run.info.status != "FINISHED" or tags.get("parity.passed") != "true" or "model_uri" not in tags:
        raise RegistryError(
            f"run {run_id} has no verified model (status {run.info.status}, "
            f"parity.passed={tags.get('parity.passed')}); only parity-checked ONNX models are registered"
        )

    existing = c.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if existing:
        return {**_describe(c, settings, str(existing[0].version)), "already_registered": True}

    mv = mlflow.register_model(tags["model_uri"], name)
    version = str(mv.version)
    with tempfile.TemporaryDirectory() as tmp:
        path = download_model(settings, version, Path(tmp))
        challenger_bytes = path.read_bytes()
    sha256 = sha256_hex(challenger_bytes)
    if sha256 != tags.get("model.sha256"):
        c.set_model_version_tag(name, version, "gate.decision", "rejected")
        c.set_model_version_tag(name, version, "gate.reason", "model.onnx checksum differs from the trained one")
        raise RegistryError(
            f"version {version}: stored model.onnx sha256 {sha256} != trained {tags.get('model.sha256')}"
        )

    version_tags = {
        TAG_SHA256: sha256,
        "threshold": tags["threshold"],
        "feature_service": tags["feature_service"],
        "feature_service_version": tags["feature_service_version"],
        "train_window": tags["train_window"],
        "test_window": tags["test_window"],
        "test_auc": f"{run.data.metrics['test_auc']:.6f}",
        "code_version": tags.get("code_version", "unknown"),
        "dataset_fingerprint": tags.get("dataset_fingerprint", "unknown"),
        # The card is generated per training run; the version points at it (MLflow UI: run artifacts).
        "model_card": f"runs:/{run_id}/model_card.md",
    }
    for key, value in version_tags.items():
        c.set_model_version_tag(name, version, key, value)
    c.set_registered_model_alias(name, CHALLENGER, version)

    champion = version_by_alias(c, name, CHAMPION)
    challenger_ev, champion_ev, notes = _evidence(c, settings, run, challenger_bytes, version, champion, frame)
    policy_ = GatePolicy.from_settings(settings)
    decision = gate_decision(challenger_ev, champion_ev, run.data.metrics["baseline_test_auc"], policy_)
    c.set_model_version_tag(name, version, "gate.decision", "promoted" if decision.passed else "rejected")
    c.set_model_version_tag(name, version, "gate.reason", "; ".join(decision.reasons))
    checks = {**decision.checks, **notes, "policy": asdict(policy_)}
    c.set_model_version_tag(name, version, "gate.checks", json.dumps(checks))
    if decision.passed:
        if champion is not None:
            c.set_model_version_tag(name, version, TAG_PREVIOUS_CHAMPION, str(champion.version))
        c.set_registered_model_alias(name, CHAMPION, version)
    return {**_describe(c, settings, version), "already_registered": False}


def rollback(settings: Settings) -> dict[str, Any]:
    """Move `champion` back to the version named in the current champion's previous_champion tag.

    Both versions get a tag saying what happened: `rolled_back` on the one taken out of service,
    `restored_by_rollback` on the one serving again (each naming the other and the time, UTC).

    Args:
        settings: MLflow location and settings.model_name.
    Returns:
        {"model_name", "from_version", "to_version", "champion"}.
    Raises:
        RegistryError: no champion, the champion has no previous_champion (it was the first), or
            that version no longer exists.
    """
    configure_mlflow(settings)
    c = client(settings)
    name = settings.model_name
    current = version_by_alias(c, name, CHAMPION)
    if current is None:
        raise RegistryError(f"{name} has no champion to roll back")
    previous = current.tags.get(TAG_PREVIOUS_CHAMPION)
    if not previous:
        raise RegistryError(f"champion v{current.version} of {name} has no previous_champion: nothing to roll back to")
    try:
        c.get_model_version(name, previous)
    except MlflowException as exc:
        raise RegistryError(f"previous champion v{previous} of {name} is gone: {exc}") from exc
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    c.set_registered_model_alias(name, CHAMPION, previous)
    c.set_model_version_tag(name, str(current.version), "rolled_back", f"champion moved back to v{previous} at {now}")
    c.set_model_version_tag(
        name, previous, "restored_by_rollback", f"champion again, rolled back from v{current.version} at {now}"
    )
    return {
        "model_name": name,
        "from_version": str(current.version),
        "to_version": previous,
        "champion": previous,
    }
