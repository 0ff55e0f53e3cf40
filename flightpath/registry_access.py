"""Talking to the MLflow model registry from any process: one client, one way to fetch a version.

    client = registry_client(settings.mlflow_tracking_uri)
    experiment_id = ensure_experiment(settings, "flight-delay-monitoring")  # artifacts where settings say
    path = download_version(settings.mlflow_tracking_uri, "flight-delay", "3", into)  # .../model.onnx

Why this module exists: `mlflow.artifacts.download_artifacts("models:/NAME/N", tracking_uri=uri)`
resolves `models:/` against the *registry* URI, not the tracking URI it is given. With no
MLFLOW_REGISTRY_URI / MLFLOW_TRACKING_URI in the environment (a user's `make serve`), that is
MLflow's default store, a `mlflow.db` it creates in the working directory, and the download fails
with "Registered Model ... not found". So nothing here uses process globals or `models:/`: the client
is built with both URIs, and a version is fetched through its own storage location
(`get_model_version_download_uri`), which is an artifact URI the tracking URI can resolve.

mlflow is imported inside the functions: importing it costs 1-2 s, and this module sits in the
core, which the CLI imports for `--help`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flightpath.artifact import MODEL_FILE
from flightpath.settings import Settings


def registry_client(tracking_uri: str) -> Any:
    """An MlflowClient whose tracking and registry URIs are both `tracking_uri` (our stores hold both)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def ensure_experiment(settings: Settings, name: str) -> str:
    """The id of experiment `name`, created if missing with its artifacts where settings say.

    Created without an artifact location against a file or SQLite store, MLflow puts an
    experiment's artifacts in `./mlruns` of whatever the working directory is (a checkout, a test's
    cwd): embedded, they go to `settings.mlflow_artifacts_dir`. A tracking server owns its artifact
    store (--artifacts-destination, proxied over HTTP), so clients on other machines read what this
    one wrote: there the server chooses.
    """
    client = registry_client(settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    if settings.mlflow_tracking_uri.startswith(("http://", "https://")):
        return str(client.create_experiment(name))
    settings.mlflow_artifacts_dir.mkdir(parents=True, exist_ok=True)
    return str(client.create_experiment(name, artifact_location=settings.mlflow_artifacts_dir.as_uri()))


def download_version(tracking_uri: str, name: str, version: str | int, dst: Path) -> Path:
    """Download one registered version's artifacts into `dst`; return the path of its model.onnx.

    Raises:
        mlflow.exceptions.MlflowException (or an OSError / connection error) when the registry or
            the artifact store cannot be read; FileNotFoundError when the version has no model.onnx.
    """
    import mlflow.artifacts

    location = registry_client(tracking_uri).get_model_version_download_uri(name, str(version))
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=location,
            dst_path=str(dst),
            tracking_uri=tracking_uri,
        )
    )
    found = sorted(local.rglob(MODEL_FILE)) if local.is_dir() else []
    if not found:
        listing = sorted(p.name for p in local.iterdir()) if local.is_dir() else [local.name]
        raise FileNotFoundError(f"version {version} of {name} has no {MODEL_FILE} (artifacts: {listing})")
    return found[0]
