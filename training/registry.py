"""Model registry: register a verified run as a version, gate its promotion, roll back.

Aliases, not stages: an alias is a movable name on one version (`champion`, `challenger`);
serving loads `models:/flight-delay@champion`. Moving the alias *is* the deployment, and
moving it back is the rollback; versions themselves never change.

    register_and_promote(settings, run_id)   new version -> @challenger; gate -> maybe @champion
    rollback(settings)                       @champion -> the version in its previous_champion tag

The gate is CI for models: a challenger replaces the champion only if its test ROC-AUC is at
least the champion's minus AUC_TOLERANCE, measured on the same test window when possible.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from features.contract import LABEL
from flightpath.settings import Settings
from training.evaluate import binary_metrics
from training.export import predict_onnx
from training.tracking import client, configure_mlflow

CHAMPION = "champion"
CHALLENGER = "challenger"
# A challenger may be up to 0.01 ROC-AUC below the champion and still be promoted: fresher data
# is worth a hair of AUC, and differences that small are within the noise of a two-week window.
AUC_TOLERANCE = 0.01
MODEL_FILE = "model.onnx"


class RegistryError(RuntimeError):
    """A registry operation cannot proceed (unverified run, no champion, checksum mismatch...)."""


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{settings.model_name}/{version}",
        dst_path=str(dst),
        tracking_uri=settings.mlflow_tracking_uri,
    )
    path = Path(local) / MODEL_FILE
    if not path.is_file():
        raise RegistryError(
            f"version {version} of {settings.model_name} has no {MODEL_FILE} (got "
            f"{sorted(p.name for p in Path(local).iterdir())})"
        )
    return path


def score_champion(settings: Settings, frame: pd.DataFrame) -> dict[str, Any]:
    """ROC-AUC of the current champion on `frame` (labelled rows with raw feature columns).

    Args:
        settings: registry location and model name.
        frame: e.g. a new run's test part, so challenger and champion are scored on the same rows.
    Returns:
        {"version", "auc"}, or {"skipped": reason} when there is no champion or it cannot be scored
        on this frame (e.g. it expects a feature the frame does not have).
    """
    c = client(settings)
    champion = version_by_alias(c, settings.model_name, CHAMPION)
    if champion is None:
        return {"skipped": "no champion yet"}
    with tempfile.TemporaryDirectory() as tmp:
        path = download_model(settings, champion.version, Path(tmp))
        try:
            p = predict_onnx(path.read_bytes(), frame)
        except (KeyError, ValueError, RuntimeError) as exc:  # a column it needs is absent or mistyped
            return {"skipped": f"champion v{champion.version} cannot score this frame: {exc}"}
    return {"version": str(champion.version), "auc": binary_metrics(frame[LABEL].to_numpy(), p)["auc"]}


def _gate(c: MlflowClient, settings: Settings, run: Any, champion: ModelVersion | None) -> tuple[bool, str]:
    """Decide promotion. Returns (promote, reason); the reason names the numbers compared."""
    metrics, tags = run.data.metrics, run.data.tags
    auc = metrics["test_auc"]
    if champion is None:
        baseline = metrics["baseline_test_auc"]
        if auc > baseline:
            return True, (
                f"no champion yet; test AUC {auc:.4f} beats the logistic-regression baseline "
                f"{baseline:.4f} on {tags.get('test_window')}"
            )
        return False, (
            f"no champion yet, but test AUC {auc:.4f} does not beat the logistic-regression "
            f"baseline {baseline:.4f} on {tags.get('test_window')}"
        )

    if tags.get("champion.version_scored") == str(champion.version) and "champion_test_auc" in metrics:
        champion_auc = metrics["champion_test_auc"]
        basis = f"champion v{champion.version} re-scored on the same test window {tags.get('test_window')}"
    else:
        # The champion changed since training (or could not be scored): fall back to its recorded
        # AUC, which was measured on its own (possibly different) test window. Said so in the reason.
        champion_run = c.get_run(str(champion.run_id))
        champion_auc = champion_run.data.metrics["test_auc"]
        basis = (
            f"champion v{champion.version}'s recorded AUC on its own window "
            f"{champion_run.data.tags.get('test_window')} (not re-scored)"
        )
    floor = champion_auc - AUC_TOLERANCE
    if auc >= floor:
        return True, f"test AUC {auc:.4f} >= champion {champion_auc:.4f} - {AUC_TOLERANCE} ({basis})"
    return False, f"test AUC {auc:.4f} < champion {champion_auc:.4f} - {AUC_TOLERANCE} ({basis})"


def _describe(c: MlflowClient, settings: Settings, version: str) -> dict[str, Any]:
    mv = c.get_model_version(settings.model_name, version)
    champion = version_by_alias(c, settings.model_name, CHAMPION)
    return {
        "model_name": settings.model_name,
        "version": str(mv.version),
        "model_uri": f"models:/{settings.model_name}/{mv.version}",
        "aliases": sorted(mv.aliases),
        "champion": str(champion.version) if champion else None,
        "decision": mv.tags.get("gate.decision"),
        "reason": mv.tags.get("gate.reason"),
        "previous_champion": mv.tags.get("previous_champion"),
        "sha256": mv.tags.get("sha256"),
        "run_id": mv.run_id,
    }


def register_and_promote(settings: Settings, run_id: str) -> dict[str, Any]:
    """Register a trained run's ONNX model, alias it `challenger`, and run the promotion gate.

    Idempotent: registering a run that already has a version returns that version unchanged (an
    Airflow retry must not create a second version or re-run the gate).

    Args:
        settings: MLflow location and settings.model_name.
        run_id: a model run from train_and_export (finished, parity gate passed).
    Returns:
        {"model_name", "version", "model_uri", "aliases", "champion", "decision" ("promoted" |
        "rejected"), "reason", "previous_champion", "sha256", "run_id", "already_registered"}.
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
        sha256 = sha256_file(download_model(settings, version, Path(tmp)))
    if sha256 != tags.get("model.sha256"):
        c.set_model_version_tag(name, version, "gate.decision", "rejected")
        c.set_model_version_tag(
            name, version, "gate.reason", "model.onnx checksum differs from the trained one"
        )
        raise RegistryError(
            f"version {version}: stored model.onnx sha256 {sha256} != trained {tags.get('model.sha256')}"
        )

    version_tags = {
        "sha256": sha256,
        "threshold": tags["threshold"],
        "feature_service": tags["feature_service"],
        "feature_service_version": tags["feature_service_version"],
        "train_window": tags["train_window"],
        "test_window": tags["test_window"],
        "test_auc": f"{run.data.metrics['test_auc']:.6f}",
        "code_version": tags.get("code_version", "unknown"),
    }
    for key, value in version_tags.items():
        c.set_model_version_tag(name, version, key, value)
    c.set_registered_model_alias(name, CHALLENGER, version)

    champion = version_by_alias(c, name, CHAMPION)
    promote, reason = _gate(c, settings, run, champion)
    c.set_model_version_tag(name, version, "gate.decision", "promoted" if promote else "rejected")
    c.set_model_version_tag(name, version, "gate.reason", reason)
    if promote:
        if champion is not None:
            c.set_model_version_tag(name, version, "previous_champion", str(champion.version))
        c.set_registered_model_alias(name, CHAMPION, version)
    return {**_describe(c, settings, version), "already_registered": False}


def rollback(settings: Settings) -> dict[str, Any]:
    """Move `champion` back to the version named in the current champion's previous_champion tag.

    Args:
        settings: MLflow location and settings.model_name.
    Returns:
        {"model_name", "from_version", "to_version", "champion"}.
    Raises:
        RegistryError: no champion, or the champion has no previous_champion (it was the first).
    """
    configure_mlflow(settings)
    c = client(settings)
    name = settings.model_name
    current = version_by_alias(c, name, CHAMPION)
    if current is None:
        raise RegistryError(f"{name} has no champion to roll back")
    previous = current.tags.get("previous_champion")
    if not previous:
        raise RegistryError(
            f"champion v{current.version} of {name} has no previous_champion: nothing to roll back to"
        )
    c.set_registered_model_alias(name, CHAMPION, previous)
    c.set_model_version_tag(name, str(current.version), "rolled_back", f"champion moved back to v{previous}")
    return {
        "model_name": name,
        "from_version": str(current.version),
        "to_version": previous,
        "champion": previous,
    }
