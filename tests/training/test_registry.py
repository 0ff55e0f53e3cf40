"""Registry flow on a temporary SQLite MLflow: first champion, gated challengers, rollback, checksums.

Registration gets the training frame, so the gate re-scores champion and challenger on the
challenger's test window (overall, per slice) and times both ONNX models interleaved.

One module-scoped story trains four models (about a minute) and records what the registry said
after each step; the tests below each check one claim about it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import onnx
import pandas as pd
import pytest
from training_frames import synthetic_training_frame, training_settings

from features.contract import feature_service_version
from flightpath.artifact import CHAMPION, METADATA_KEYS
from flightpath.settings import Settings
from training import train as train_mod
from training.export import ExportParityError, export_onnx
from training.gate import GatePolicy
from training.registry import register_and_promote, rollback
from training.tracking import RegistryError, client, download_model
from training.train import train_and_export


@dataclass
class Story:
    settings: Settings
    trained: dict[str, dict[str, Any]] = field(default_factory=dict)
    registered: dict[str, dict[str, Any]] = field(default_factory=dict)
    champion_after: dict[str, str | None] = field(default_factory=dict)
    rolled_back: dict[str, Any] = field(default_factory=dict)


def champion_version(settings: Settings) -> str | None:
    try:
        return str(client(settings).get_model_version_by_alias(settings.model_name, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        return None


@pytest.fixture(scope="module")
def story(training_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Story:
    home = tmp_path_factory.mktemp("registry") / "home"
    good = training_settings(home)
    steps = {
        "first": good,
        # Barely trained: one epoch at a learning rate too small to move the weights.
        "worse": training_settings(home, epochs=1, learning_rate=1e-6),
        # Same seed plus two more ensemble members: within the gate's tolerance of the champion.
        # Three networks cost ~1.4x one at batch 256 (measured), too close to the 1.5x latency
        # bound for a noisy box: this story is about AUC, so the bound is widened here (the
        # latency check itself is tested with injected numbers in test_gate.py).
        "better": training_settings(home, ensemble_size=3, gate_latency_max_ratio=3.0),
    }
    s = Story(good)
    for name, settings in steps.items():
        s.trained[name] = train_and_export(settings, training_frame)
        s.registered[name] = register_and_promote(settings, s.trained[name]["run_id"], training_frame)
        s.champion_after[name] = champion_version(good)
    s.rolled_back = rollback(good)
    s.champion_after["rollback"] = champion_version(good)
    return s


def test_train_result_is_json_ready_and_complete(story: Story) -> None:
    result = story.trained["first"]
    json.dumps(result)  # XCom needs this
    assert {"test_auc", "baseline_test_auc", "test_pr_auc", "test_log_loss"} <= set(result["metrics"])
    assert 0 < result["threshold"] < 1
    assert result["split"]["train_end"] < result["split"]["validation_start"] <= result["split"]["test_start"]
    assert set(result["phase_seconds"]) == {
        "split",
        "train",
        "evaluate",
        "baseline",
        "export_parity",
        "mlflow",
    }
    run = client(story.settings).get_run(result["run_id"])
    assert run.data.tags["feature_service_version"] == feature_service_version()
    assert (
        run.data.tags["code_version"]
        and run.data.metrics["baseline_test_auc"] == result["metrics"]["baseline_test_auc"]
    )
    assert run.data.params["train_start"] == result["split"]["train_start"]
    baseline = client(story.settings).get_run(result["baseline_run_id"])
    assert baseline.data.tags["role"] == "baseline" and baseline.data.metrics["test_auc"] == pytest.approx(
        result["metrics"]["baseline_test_auc"]
    )


def test_first_version_that_beats_the_baseline_becomes_champion(story: Story) -> None:
    trained, reg = story.trained["first"], story.registered["first"]
    assert trained["metrics"]["test_auc"] > trained["metrics"]["baseline_test_auc"]
    assert reg["version"] == "1" and reg["decision"] == "promoted"
    assert "no champion yet" in reg["reason"] and "baseline" in reg["reason"]
    assert reg["aliases"] == ["challenger", "champion"] and reg["previous_champion"] is None
    assert story.champion_after["first"] == "1"


def test_a_worse_challenger_is_not_promoted_and_says_why(story: Story) -> None:
    trained, reg = story.trained["worse"], story.registered["worse"]
    # It was compared with the champion re-scored on its own test window.
    assert trained["champion_comparison"]["version"] == "1"
    champion_auc = trained["champion_comparison"]["auc"]
    assert trained["metrics"]["test_auc"] < champion_auc - GatePolicy().auc_tolerance
    assert reg["version"] == "2" and reg["decision"] == "rejected" and reg["aliases"] == ["challenger"]
    assert f"< champion {champion_auc:.4f} - {GatePolicy().auc_tolerance}" in reg["reason"]
    assert "same test window" in reg["reason"]
    assert story.champion_after["worse"] == "1"
    # Every check ran and is on the version: the barely trained model loses on the slices too.
    checks = json.loads(client(story.settings).get_model_version(story.settings.model_name, "2").tags["gate.checks"])
    assert checks == reg["checks"] and checks["auc"]["champion"] == pytest.approx(champion_auc)
    assert checks["slices"]["passed"] is False and "origin=EWR" in checks["slices"]["regressed"]
    assert set(checks["latency"]["ratio"]) == {"1", "256"}
    assert "both models re-scored" in checks["evidence"]
    assert [part.split(":")[0] for part in reg["reason"].split("; ")] == ["AUC", "slices", "latency"]


def test_a_good_challenger_is_promoted_and_remembers_the_previous_champion(story: Story) -> None:
    reg = story.registered["better"]
    assert reg["version"] == "3" and reg["decision"] == "promoted" and reg["previous_champion"] == "1"
    assert story.champion_after["better"] == "3"
    tags = client(story.settings).get_model_version(story.settings.model_name, "3").tags
    for key in (
        "sha256",
        "threshold",
        "feature_service",
        "train_window",
        "gate.decision",
        "gate.reason",
        "previous_champion",
        "dataset_fingerprint",
        "model_card",
    ):
        assert tags[key], key
    assert tags["train_window"] == story.trained["better"]["train_window"]
    checks = story.registered["better"]["checks"]
    assert checks["auc"]["passed"] and checks["slices"]["passed"] and checks["latency"]["passed"]
    assert len(checks["slices"]["compared"]) >= 3  # at least the three origins have >= 50 rows


def test_rollback_moves_champion_to_the_previous_champion(story: Story) -> None:
    assert story.rolled_back == {
        "model_name": story.settings.model_name,
        "from_version": "3",
        "to_version": "1",
        "champion": "1",
    }
    assert story.champion_after["rollback"] == "1"
    c = client(story.settings)
    name = story.settings.model_name
    assert "champion moved back to v1" in c.get_model_version(name, "3").tags["rolled_back"]
    assert "rolled back from v3" in c.get_model_version(name, "1").tags["restored_by_rollback"]
    assert str(c.get_model_version_by_alias(name, "challenger").version) == "3"  # only champion moved
    # v1 was the first champion: there is nothing before it.
    with pytest.raises(RegistryError, match="no previous_champion"):
        rollback(story.settings)


def test_sha256_tag_is_the_hash_of_the_served_file_and_layout_is_flat(story: Story, tmp_path: Path) -> None:
    settings = story.settings
    for version in ("1", "2", "3"):
        path = download_model(settings, version, tmp_path / version)
        # model.onnx sits at the root of the version's artifacts, beside MLmodel
        assert path.name == "model.onnx" and (path.parent / "MLmodel").is_file()
        assert path.is_relative_to(tmp_path / version)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert client(settings).get_model_version(settings.model_name, version).tags["sha256"] == digest
        assert {p.key for p in onnx.load(str(path)).metadata_props} == set(METADATA_KEYS)
    # The bytes live under settings.mlflow_artifacts_dir (the experiment's artifact location).
    stored = list(settings.mlflow_artifacts_dir.glob("models/m-*/artifacts/model.onnx"))
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in stored}
    assert story.registered["first"]["sha256"] in digests


def test_registering_a_run_twice_returns_the_same_version(story: Story) -> None:
    again = register_and_promote(story.settings, story.trained["worse"]["run_id"])
    assert again["already_registered"] and again["version"] == "2" and again["decision"] == "rejected"


def test_a_parity_failure_stops_the_pipeline_and_cannot_be_registered(
    story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    def export_then_corrupt(net, prep, metadata):  # type: ignore[no-untyped-def]
        # An exporter bug stand-in: the real export, then one weight nudged by 10%.
        model = export_onnx(net, prep, metadata)
        weight = max(
            (t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT),
            key=lambda t: len(t.raw_data),
        )
        array = onnx.numpy_helper.to_array(weight) * 1.1
        weight.CopyFrom(onnx.numpy_helper.from_array(array, weight.name))
        return model

    monkeypatch.setattr(train_mod, "export_onnx", export_then_corrupt)
    small = synthetic_training_frame(days=12, flights_per_day=120, seed=3)
    settings = training_settings(story.settings.home, epochs=1)
    with pytest.raises(ExportParityError):
        train_and_export(settings, small)
    c = client(settings)
    experiment = c.get_experiment_by_name(settings.experiment_name)
    failed = c.search_runs([experiment.experiment_id], "tags.`parity.passed` = 'false'")
    assert len(failed) == 1 and failed[0].info.status == "FAILED"
    with pytest.raises(RegistryError, match="only parity-checked ONNX models are registered"):
        register_and_promote(settings, failed[0].info.run_id)
    assert champion_version(settings) == "1"  # nothing moved


# --- staged releases (settings.release = "staged"): last in this module, they move the aliases ---


@dataclass
class Staged:
    home: Path
    before: str | None
    registered: dict[str, Any]
    champion_after_register: str | None
    aborted: dict[str, Any]
    challenger_after_abort: str | None
    promoted: dict[str, Any]
    champion_after_promote: str | None
    tags: dict[str, str]


@pytest.fixture(scope="module")
def staged(story: Story, training_frame: pd.DataFrame) -> Staged:
    from flightpath.artifact import CHALLENGER
    from training.registry import release_abort, release_promote

    settings = training_settings(
        story.settings.home, release="staged", ensemble_size=3, gate_latency_max_ratio=3.0, seed=29
    )
    before = champion_version(settings)
    run_id = train_and_export(settings, training_frame)["run_id"]
    registered = register_and_promote(settings, run_id, training_frame)
    after_register = champion_version(settings)
    aborted = release_abort(settings)
    c = client(settings)
    try:
        after_abort: str | None = str(c.get_model_version_by_alias(settings.model_name, CHALLENGER).version)
    except mlflow.exceptions.MlflowException:
        after_abort = None
    # As a new registration of a gate-passed version would: it is challenger again.
    c.set_registered_model_alias(settings.model_name, CHALLENGER, registered["version"])
    promoted = release_promote(settings)
    tags = dict(c.get_model_version(settings.model_name, registered["version"]).tags)
    return Staged(
        settings.home,
        before,
        registered,
        after_register,
        aborted,
        after_abort,
        promoted,
        champion_version(settings),
        tags,
    )


def test_a_staged_release_keeps_the_champion_until_promoted(staged: Staged) -> None:
    assert staged.registered["decision"] == "staged", staged.registered["reason"]
    assert "flightpath release promote" in staged.registered["reason"]
    assert staged.champion_after_register == staged.before  # the gate passed it, champion did not move
    assert staged.promoted["from_version"] == staged.before
    assert staged.promoted["to_version"] == staged.registered["version"] == staged.champion_after_promote
    assert staged.tags["previous_champion"] == staged.before  # `make rollback` goes back from here
    assert "released" in staged.tags


def test_aborting_a_staged_release_drops_only_the_challenger(staged: Staged) -> None:
    assert staged.aborted == {
        "model_name": "flight-delay",
        "aborted_version": staged.registered["version"],
        "champion": staged.before,
    }
    assert staged.challenger_after_abort is None
    assert "release_aborted" in staged.tags


def test_release_commands_refuse_what_they_cannot_do(staged: Staged) -> None:
    from training.registry import release_abort, release_promote

    settings = training_settings(staged.home, release="staged")
    with pytest.raises(RegistryError, match="is the champion: use `make rollback`"):
        release_abort(settings)  # challenger == champion after the promotion
    c = client(settings)
    worse = next(v for v in c.search_model_versions("name='flight-delay'") if v.tags.get("gate.decision") == "rejected")
    c.set_registered_model_alias(settings.model_name, "challenger", worse.version)
    with pytest.raises(RegistryError, match="did not pass the gate"):
        release_promote(settings)
