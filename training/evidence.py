"""Evidence for the promotion gate: the champion re-scored on the challenger's test window, per
slice, and both models timed interleaved. All I/O of the gate lives here; the decision is
training/gate.py's pure function.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import onnxruntime as ort
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from onnxruntime.capi.onnxruntime_pybind11_state import Fail as OrtFail
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument as OrtInvalidArgument
from sklearn.metrics import roc_auc_score

from features.contract import LABEL, MODEL_INPUTS
from flightpath.artifact import CHAMPION, OUTPUT_NAME, new_session
from flightpath.settings import Settings
from training.export import onnx_feeds, predict_onnx
from training.gate import GateEvidence
from training.split import local_days
from training.tracking import client, download_model, version_by_alias

LATENCY_BATCH_SIZES = (1, 256)
SLICE_COLUMNS = ("origin", "carrier", "month")
# Optional run artifact: the test-window rows (raw features + label). When train.py logs it
# (`log_test_rows` inside the model run), registration needs no frame to gather slice evidence.
TEST_ROWS_ARTIFACT = "gate/test_rows.parquet"
# A model that cannot score a frame: a column it needs is absent (KeyError) or mistyped (ORT errors).
_SCORING_ERRORS = (KeyError, ValueError, RuntimeError, OrtFail, OrtInvalidArgument)


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
    rounds: int = Settings.model_fields["gate_latency_rounds"].default,
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


def gather_evidence(
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
