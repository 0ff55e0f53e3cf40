"""Finding, verifying, caching and loading the champion (serving/model_store.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from serving_fakes import (
    BIAS,
    MODEL_NAME,
    STORE_VALUES,
    THRESHOLD,
    build_model,
    expected_probability,
    settings_for,
    sha256_of,
)

from features import contract
from serving.features import to_columns
from serving.model_store import ModelRefused, ModelStore, NoChampion, NoLocalCopy, RegistryUnavailable

# A registry that cannot be reached: SQLite cannot create a file under /proc (fails in ~1 s,
# where a dead HTTP URI costs MLflow's retries plus a slow plug-in import).
NOWHERE = "sqlite:////proc/flightpath-nowhere/mlflow.db"

ROW = {
    **STORE_VALUES,
    "sched_hour": 7.5,
    "sched_weekday": 2.0,
    "sched_month": 1.0,
    "days_to_holiday": 3.0,
    "carrier": "UA",
    "origin": "EWR",
    "dest": "IAH",
}


def test_champion_is_loaded_verified_and_cached(serving_settings, registry):
    version = registry.register(build_model())
    model = ModelStore(serving_settings).load_champion()

    assert (model.version, model.source, model.alias) == (version, "registry", "champion")
    assert model.threshold == THRESHOLD
    assert model.sha256 == sha256_of(build_model())
    assert model.metadata["feature_service_version"] == contract.feature_service_version()
    assert sorted(model.input_names) == sorted(contract.MODEL_INPUTS)
    assert model.session.get_session_options().intra_op_num_threads == 1
    # predict: columns in, (batch,) float32 out, the value the graph defines
    p = model.predict(to_columns([ROW, {**ROW, "wx_precip": 1.0}]))
    assert p.dtype == np.float32 and p.shape == (2,)
    assert p[0] == pytest.approx(expected_probability(ROW), abs=1e-6)
    assert p[1] > p[0]  # more precipitation, more delay (weight +3)

    d = serving_settings.models_dir / "flight-delay" / version
    assert (d / "model.onnx").read_bytes() == build_model().SerializeToString()
    meta = json.loads((d / "meta.json").read_text())
    assert meta["sha256"] == model.sha256 and meta["tags"]["threshold"] == str(THRESHOLD)


def test_predict_rejects_missing_inputs_and_ragged_batches(serving_settings, registry):
    registry.register(build_model())
    model = ModelStore(serving_settings).load_champion()
    cols = to_columns([ROW])
    with pytest.raises(ValueError, match="wx_temp"):
        model.predict({k: v for k, v in cols.items() if k != "wx_temp"})
    with pytest.raises(ValueError, match="batch sizes"):
        model.predict({**cols, "dest": np.array(["IAH", "ORD"], dtype=object)})


def test_sha256_mismatch_is_refused(serving_settings, registry):
    registry.register(build_model(), sha256="0" * 64)
    with pytest.raises(ModelRefused, match="sha256 mismatch"):
        ModelStore(serving_settings).load_champion()
    assert not (serving_settings.models_dir / "flight-delay" / "1").exists()  # nothing cached


def test_missing_sha256_tag_is_refused(serving_settings, registry):
    version = registry.register(build_model())
    registry.client().delete_model_version_tag("flight-delay", version, "sha256")
    with pytest.raises(ModelRefused, match="no sha256 tag"):
        ModelStore(serving_settings).load_champion()


def test_model_whose_inputs_break_the_contract_is_refused(serving_settings, registry):
    registry.register(build_model(inputs=tuple(n for n in contract.MODEL_INPUTS if n != "wx_visib")))
    with pytest.raises(ModelRefused, match=r"missing=\['wx_visib'\]"):
        ModelStore(serving_settings).load_champion()


def test_model_trained_on_another_feature_set_is_refused(serving_settings, registry):
    registry.register(build_model(metadata={"feature_service_version": "0123456789ab"}))
    with pytest.raises(ModelRefused, match="feature_service_version"):
        ModelStore(serving_settings).load_champion()


def test_model_that_does_not_output_probabilities_is_refused(serving_settings, registry):
    registry.register(build_model(sigmoid=False))  # raw logits: -1 for an all-missing row
    with pytest.raises(ModelRefused, match=r"must be \(batch,\) in \[0, 1\]"):
        ModelStore(serving_settings).load_champion()


def test_no_champion_alias_is_not_a_registry_outage(serving_settings, registry):
    registry.register(build_model(), champion=False)
    with pytest.raises(NoChampion):
        ModelStore(serving_settings).load_champion()


def test_a_canary_serves_the_challenger_only_once_the_gate_passed_it(serving_settings, registry):
    version = registry.register(build_model(), champion=False)
    client = registry.client()
    client.set_registered_model_alias(MODEL_NAME, "challenger", version)
    canary = ModelStore(serving_settings.model_copy(update={"model_alias": "challenger"}))
    for decision in (None, "rejected"):  # every new version is challenger first, rejected ones too
        if decision:
            client.set_model_version_tag(MODEL_NAME, version, "gate.decision", decision)
        with pytest.raises(NoChampion, match=f"gate {decision}, not served"):
            canary.load_champion()
    client.set_model_version_tag(MODEL_NAME, version, "gate.decision", "staged")
    assert canary.load_champion().version == version
    with pytest.raises(NoChampion):  # the champion alias was never set
        ModelStore(serving_settings).load_champion()


def test_starts_from_the_local_copy_when_mlflow_is_unreachable(serving_settings, registry, tmp_path):
    registry.register(build_model())
    ModelStore(serving_settings).load_champion()  # leaves a verified local copy

    offline = settings_for(serving_settings.home, registry).model_copy(update={"mlflow_tracking_uri_override": NOWHERE})
    store = ModelStore(offline)
    with pytest.raises(RegistryUnavailable):
        store.champion()
    model = store.load_champion()
    assert (model.version, model.source, model.threshold) == ("1", "local", THRESHOLD)
    assert model.stand_in_for is None and "registry unavailable" in model.stand_in_reason
    assert model.predict(to_columns([ROW]))[0] == pytest.approx(expected_probability(ROW), abs=1e-6)

    # With no local copy at all there is nothing to start from, and the error says so.
    empty = offline.model_copy(update={"home": tmp_path / "empty-home"})
    with pytest.raises(NoLocalCopy):
        ModelStore(empty).load_champion()


def test_local_copies_are_reverified_and_the_last_champion_is_preferred(serving_settings, registry):
    store = ModelStore(serving_settings)
    registry.register(build_model())
    registry.register(build_model(bias=BIAS + 1))
    assert store.load_champion().version == "2"
    registry.move_alias("1")  # rollback
    assert store.load_champion().version == "1"
    # v2 is the newest copy, but v1 was the champion last seen: that is where an offline start begins.
    assert store.local_versions() == ["2", "1"]
    assert store.load_newest_local().version == "1"

    # A tampered copy fails its checksum: skipped offline, downloaded again online.
    path = serving_settings.models_dir / "flight-delay" / "1" / "model.onnx"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(ModelRefused, match="sha256 mismatch"):
        store.load_local("1")
    assert store.load_newest_local().version == "2"
    assert store.load_champion().version == "1"
    assert path.read_bytes() == build_model().SerializeToString()


def test_an_unfetchable_champion_is_replaced_by_the_champion_before_it(serving_settings, registry):
    registry.register(build_model())
    ModelStore(serving_settings).load_champion()  # v1 served once: a verified local copy
    registry.register(build_model(bias=BIAS + 1))  # v2: champion, previous_champion=1
    registry.lose_artifacts("2")

    model = ModelStore(serving_settings).load_champion()
    assert (model.version, model.stand_in_for, model.source) == ("1", "2", "local")
    assert "download of flight-delay v2 failed" in model.stand_in_reason


def test_a_refused_champion_is_replaced_by_the_champion_before_it(serving_settings, registry):
    registry.register(build_model())
    ModelStore(serving_settings).load_champion()
    registry.register(build_model(bias=BIAS + 1), sha256="0" * 64)

    model = ModelStore(serving_settings).load_champion()
    assert (model.version, model.stand_in_for) == ("1", "2")
    assert "sha256 mismatch" in model.stand_in_reason


def test_a_stand_in_comes_only_from_the_champions_lineage(serving_settings, registry):
    # v1 and v2 were served (local copies); then v2 was rolled back to v1, and v1's artifacts are
    # lost. v2 is not in v1's lineage: the store must not start v2, the version taken out on purpose.
    registry.register(build_model())
    store = ModelStore(serving_settings)
    store.load_champion()
    registry.register(build_model(bias=BIAS + 1))
    assert store.load_champion().version == "2"
    registry.move_alias("1")
    registry.lose_artifacts("1")
    (serving_settings.models_dir / "flight-delay" / "1" / "meta.json").unlink()  # and its local copy

    assert store.lineage(store.champion()) == []
    with pytest.raises(RegistryUnavailable, match="download of flight-delay v1 failed"):
        store.load_champion()


def test_lineage_follows_previous_champion_tags(serving_settings, registry):
    for bias in (BIAS, BIAS + 1, BIAS + 2):
        registry.register(build_model(bias=bias))
    store = ModelStore(serving_settings)
    assert store.lineage(store.champion()) == ["2", "1"]
