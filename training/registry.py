"""Model registry: register a verified run as a version, gate its promotion, roll back.

Aliases, not stages: an alias is a movable name on one version (`champion`, `challenger`);
serving follows `champion`. Moving the alias *is* the deployment, and moving it back is the
rollback; versions themselves never change.

    register_and_promote(settings, run_id, frame=None)   new version -> @challenger; gate -> maybe @champion
    rollback(settings)                                   @champion -> the version in its previous_champion tag

Three modules, one job each: training/evidence.py gathers what the gate needs (I/O),
training/gate.py decides (a pure function of numbers, with the checks it makes), and this module
records: the decision and every reason go on the version as `gate.decision`, `gate.reason` and
`gate.checks` (JSON numbers), and only a passing version moves `champion`.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from flightpath.artifact import CHALLENGER, CHAMPION, TAG_PREVIOUS_CHAMPION, TAG_SHA256, sha256_hex
from flightpath.settings import Settings
from flightpath.signing import SignatureError, sign_version, verify_version
from training.evidence import gather_evidence
from training.gate import GatePolicy, gate_decision
from training.tracking import RegistryError, client, configure_mlflow, download_model, version_by_alias


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

    Idempotent: registering a run whose version has a gate decision returns that version unchanged
    (an Airflow retry must not create a second version or re-run the gate). A version without one
    (the registration died half-way) is finished: checksum, tags, gate, alias ("resumed": True).
    If another promotion moved `champion` while this gate ran, the challenger is not promoted.

    Args:
        settings: MLflow location, settings.model_name, the gate_* tolerances.
        run_id: a model run from train_and_export (finished, parity gate passed).
        frame: optional training frame; its rows in the run's test window are used to re-score
            champion and challenger (overall, per slice, latency) when the run did not log them
            (TEST_ROWS_ARTIFACT). Without either, the gate compares AUC only and says so.
    Returns:
        {"model_name", "version", "model_uri", "aliases", "champion", "decision" ("promoted" |
        "rejected"), "reason", "checks", "previous_champion", "sha256", "run_id",
        "already_registered", "resumed"}.
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
    if existing and existing[0].tags.get("gate.decision"):
        return {**_describe(c, settings, str(existing[0].version)), "already_registered": True}
    # A version without a gate decision is a registration that died half-way (after the version was
    # created, before the gate recorded its decision): the retry finishes it instead of answering
    # "already registered" with no checksum, no gate and no alias.
    version = str(existing[0].version) if existing else str(mlflow.register_model(tags["model_uri"], name).version)
    resumed = bool(existing)
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
    # The signature: serving loads only versions the pipeline's key signed (flightpath/signing.py).
    version_tags.update(sign_version(settings, name, version, sha256))
    for key, value in version_tags.items():
        c.set_model_version_tag(name, version, key, value)
    c.set_registered_model_alias(name, CHALLENGER, version)

    champion = version_by_alias(c, name, CHAMPION)
    challenger_ev, champion_ev, notes = gather_evidence(c, settings, run, challenger_bytes, version, champion, frame)
    policy_ = GatePolicy.from_settings(settings)
    decision = gate_decision(challenger_ev, champion_ev, run.data.metrics["baseline_test_auc"], policy_)
    passed, reasons = decision.passed, list(decision.reasons)
    # Two promotions at once: each gate compared against the champion it saw. If another one moved
    # `champion` meanwhile, moving it now would silently replace a version this gate never judged.
    now_champion = version_by_alias(c, name, CHAMPION)
    seen, now = (str(v.version) if v else None for v in (champion, now_champion))
    if passed and seen != now:
        passed = False
        reasons.append(
            f"champion moved from {seen and 'v' + seen} to v{now} while this gate ran: not promoted; "
            "register again to be judged against the new champion"
        )
    c.set_model_version_tag(
        name, version, "gate.checks", json.dumps({**decision.checks, **notes, "policy": asdict(policy_)})
    )
    staged = passed and settings.release == "staged" and champion is not None
    if staged:
        reasons.append("staged release: challenger until `flightpath release promote` (canary or shadow first)")
    elif passed:
        _move_champion(c, name, version, champion)
    # The decision is written last: its presence is what marks the registration as complete.
    c.set_model_version_tag(name, version, "gate.reason", "; ".join(reasons))
    c.set_model_version_tag(
        name, version, "gate.decision", "staged" if staged else "promoted" if passed else "rejected"
    )
    return {**_describe(c, settings, version), "already_registered": False, "resumed": resumed}


def _move_champion(c: MlflowClient, name: str, version: str, champion: Any) -> None:
    """`champion` -> version, remembering the one it replaces (the lineage rollback follows)."""
    if champion is not None and str(champion.version) != version:  # (a resumed run may have moved it)
        c.set_model_version_tag(name, version, TAG_PREVIOUS_CHAMPION, str(champion.version))
    c.set_registered_model_alias(name, CHAMPION, version)


def _verified_bytes(settings: Settings, c: MlflowClient, version: str, then: str) -> None:
    """The stored model of `version` matches its checksum and signature, else RegistryError saying `then`."""
    name = settings.model_name
    target = c.get_model_version(name, version)
    with tempfile.TemporaryDirectory() as tmp:
        stored = sha256_hex(download_model(settings, version, Path(tmp)).read_bytes())
    if not target.tags.get(TAG_SHA256) or stored != target.tags[TAG_SHA256]:
        raise RegistryError(
            f"v{version} of {name}: stored model.onnx sha256 {stored} != its {TAG_SHA256} tag "
            f"{target.tags.get(TAG_SHA256)}: {then}"
        )
    try:  # serving would refuse it: moving an alias there would only make every replica a stand-in
        verify_version(settings, name, version, stored, dict(target.tags))
    except SignatureError as exc:
        raise RegistryError(f"{exc}: {then}") from exc


def release_promote(settings: Settings) -> dict[str, Any]:
    """Move `champion` to the `challenger` after a staged release (canary or shadow) looked right.

    Only a challenger the gate passed ("staged" or "promoted") can be promoted; its bytes are checked
    again, as for a rollback. Returns {"model_name", "from_version", "to_version", "champion"}.
    """
    configure_mlflow(settings)
    c = client(settings)
    name = settings.model_name
    challenger = version_by_alias(c, name, CHALLENGER)
    if challenger is None:
        raise RegistryError(f"{name} has no challenger to promote")
    version = str(challenger.version)
    decision = challenger.tags.get("gate.decision")
    if decision not in ("staged", "promoted"):
        raise RegistryError(f"challenger v{version} of {name} did not pass the gate ({decision}): not promoted")
    champion = version_by_alias(c, name, CHAMPION)
    if champion is not None and str(champion.version) == version:
        return {"model_name": name, "from_version": version, "to_version": version, "champion": version}
    _verified_bytes(settings, c, version, f"not promoted, champion stays v{champion and champion.version}")
    _move_champion(c, name, version, champion)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    c.set_model_version_tag(name, version, "released", f"champion after a staged release at {now}")
    return {
        "model_name": name,
        "from_version": str(champion.version) if champion else None,
        "to_version": version,
        "champion": version,
    }


def release_abort(settings: Settings) -> dict[str, Any]:
    """End a staged release without promoting: the `challenger` alias goes, so canary and shadow pods
    have nothing to serve and turn unready (out of the Service); the champion never moved.
    Returns {"model_name", "aborted_version", "champion"}."""
    configure_mlflow(settings)
    c = client(settings)
    name = settings.model_name
    challenger = version_by_alias(c, name, CHALLENGER)
    champion = version_by_alias(c, name, CHAMPION)
    if challenger is None:
        raise RegistryError(f"{name} has no challenger: no release to abort")
    if champion is not None and str(champion.version) == str(challenger.version):
        raise RegistryError(f"challenger v{challenger.version} is the champion: use `make rollback` instead")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    c.delete_registered_model_alias(name, CHALLENGER)
    c.set_model_version_tag(name, str(challenger.version), "release_aborted", f"challenger alias removed at {now}")
    return {
        "model_name": name,
        "aborted_version": str(challenger.version),
        "champion": str(champion.version) if champion else None,
    }


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
    # Verify the bytes before they serve again: a rollback is the moment nobody looks at the model.
    _verified_bytes(settings, c, previous, f"not rolled back, champion stays v{current.version}")
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
