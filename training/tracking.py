"""MLflow set-up, the facts every run records (code version, feature service), and registry reads.

Experiment tracking answers "which data, code and settings produced this number?" months later.
Embedded default: a SQLite backend and a local artifact folder, both under settings.mlflow_dir;
the stack points settings.mlflow_tracking_uri at the MLflow server instead.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from features.contract import LABEL, MODEL_INPUTS, feature_service_version
from flightpath.errors import FlightpathError
from flightpath.registry_access import download_version, ensure_experiment, registry_client
from flightpath.settings import PROJECT_ROOT, Settings


def configure_mlflow(settings: Settings) -> str:
    """Point MLflow (tracking and registry) at settings and make sure the experiment exists.

    Args:
        settings: mlflow_tracking_uri, mlflow_artifacts_dir, experiment_name.
    Returns:
        The experiment id (also made the active experiment).
    """
    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:"):
        settings.mlflow_dir.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not the folder
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment_id = ensure_experiment(settings, settings.experiment_name)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def client(settings: Settings) -> MlflowClient:
    return registry_client(settings.mlflow_tracking_uri)


def code_version() -> str:
    """Short git commit of the working tree, or "unknown" (e.g. an installed wheel, no git)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def lineage_tags(settings: Settings) -> dict[str, str]:
    """Tags that tie a run to the code and the feature set it was trained with."""
    return {
        "code_version": code_version(),
        "feature_service": settings.feature_service,
        "feature_service_version": feature_service_version(),
    }


def dataset_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of the rows a model saw (model inputs + label, in order): same data, same fingerprint.

    Cheaper than storing the data with every run, and enough to answer "was v3 trained on the same
    rows as v2?" (the lake itself is reproducible from the source, see pipelines/NOTES.md).
    """
    columns = [c for c in (*MODEL_INPUTS, LABEL, "sched_dep_utc") if c in frame.columns]
    hashed = pd.util.hash_pandas_object(frame[columns], index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


class RegistryError(FlightpathError, RuntimeError):
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
