"""Hot reload: follow the champion alias, refuse bad artifacts, never stop serving."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from serving_fakes import BIAS, FakeReader, build_model, sha256_of

from features import contract
from serving.app import create_app
from serving.loaded_model import ModelStoreError
from serving.model_store import ModelStore

# A registry that cannot be reached (see tests/serving/test_model_store.py).
NOWHERE = "sqlite:////proc/flightpath-nowhere/mlflow.db"

FLIGHT = {"carrier": "UA", "flight": 1, "origin": "JFK", "dest": "ORD", "sched_dep_local": "2013-02-01T09:00"}


def test_reload_swaps_to_a_new_champion_and_refuses_a_corrupt_one(serving_settings, registry):
    registry.register(build_model())
    with TestClient(create_app(serving_settings, reader=FakeReader(), poll=False)) as c:
        runtime = c.app.state.runtime
        p1 = c.post("/v1/predict", json=FLIGHT).json()
        assert p1["model"]["version"] == "1"
        assert runtime.check_for_update() == "unchanged"

        registry.register(build_model(bias=BIAS + 1))  # v2 becomes champion
        old = runtime.model
        assert runtime.check_for_update() == "swapped"
        p2 = c.post("/v1/predict", json=FLIGHT).json()
        assert p2["model"]["version"] == "2"
        assert p2["probability"] > p1["probability"]  # the new graph really answers
        assert old.predict  # a request holding the old model could still finish on it

        # v3: the tag does not match the bytes (a corrupted upload). Refused; v2 keeps serving.
        registry.register(build_model(bias=BIAS + 2), sha256=sha256_of(build_model()))
        assert runtime.check_for_update() == "refused"
        assert runtime.check_for_update() == "known-bad"  # not downloaded again every poll
        assert c.post("/v1/predict", json=FLIGHT).json()["model"]["version"] == "2"
        ready = c.get("/readyz")
        assert ready.status_code == 200 and "sha256 mismatch" in ready.json()["last_reload_error"]

        # v4 breaks the input contract: refused too.
        registry.register(build_model(inputs=contract.MODEL_INPUTS[1:]))
        assert runtime.check_for_update() == "refused"
        assert c.get("/v1/model").json()["version"] == "2"

        # Rollback = moving the alias back; the poller follows it.
        registry.move_alias("1")
        assert runtime.check_for_update() == "swapped"
        assert c.get("/v1/model").json()["version"] == "1"

        metrics = c.get("/metrics").text
        assert 'flightpath_model_reloads_total{outcome="swapped"} 2.0' in metrics
        assert 'flightpath_model_reloads_total{outcome="refused"} 2.0' in metrics
        assert 'version="1"' in metrics and 'version="2"' not in metrics


def test_background_poller_picks_up_a_new_champion(serving_settings, registry):
    registry.register(build_model())
    settings = serving_settings.model_copy(update={"reload_interval_s": 0.2})
    with TestClient(create_app(settings, reader=FakeReader())) as c:
        assert c.get("/v1/model").json()["version"] == "1"
        registry.register(build_model(bias=BIAS + 1))
        deadline = time.monotonic() + 15
        while c.get("/v1/model").json()["version"] != "2":
            assert time.monotonic() < deadline, "poller did not swap to v2"
            time.sleep(0.1)


def test_a_process_that_started_without_a_model_recovers(serving_settings, registry):
    with TestClient(create_app(serving_settings, reader=FakeReader(), poll=False)) as c:
        assert c.get("/readyz").status_code == 503
        registry.register(build_model())
        assert c.app.state.runtime.check_for_update() == "swapped"
        assert c.get("/readyz").status_code == 200
        assert c.post("/v1/predict", json=FLIGHT).status_code == 200


def _model(c: TestClient) -> dict:
    return c.get("/v1/model").json()


def test_a_running_service_keeps_the_previous_champion_when_the_new_one_cannot_be_fetched(serving_settings, registry):
    registry.register(build_model())
    with TestClient(create_app(serving_settings, reader=FakeReader(), poll=False)) as c:
        runtime = c.app.state.runtime
        registry.register(build_model(bias=BIAS + 1))  # v2, previous_champion=1
        registry.lose_artifacts("2")
        assert runtime.check_for_update() == "unavailable"
        info = _model(c)
        assert (info["version"], info["stand_in_for"]) == ("1", "2")
        assert "download of flight-delay v2 failed" in info["stand_in_reason"]
        assert c.get("/readyz").json()["stand_in_for"] == "2"
        assert "flightpath_model_stand_in 1.0" in c.get("/metrics").text
        assert c.post("/v1/predict", json=FLIGHT).json()["model"]["version"] == "1"

        registry.register(build_model(bias=BIAS + 2))  # v3 arrives: the stand-in ends
        assert runtime.check_for_update() == "swapped"
        info = _model(c)
        assert (info["version"], info["stand_in_for"], info["stand_in_reason"]) == ("3", None, None)
        assert "flightpath_model_stand_in 0.0" in c.get("/metrics").text


def test_after_a_rollback_to_an_unfetchable_version_the_rolled_back_model_is_not_kept(serving_settings, registry):
    registry.register(build_model())  # v1, served: local copy
    with TestClient(create_app(serving_settings, reader=FakeReader(), poll=False)) as c:
        runtime = c.app.state.runtime
        registry.register(build_model(bias=BIAS + 1))  # v2, never served by this process
        registry.register(build_model(bias=BIAS + 2))  # v3, previous_champion=2
        assert runtime.check_for_update() == "swapped" and _model(c)["version"] == "3"

        registry.move_alias("2")  # rollback v3 -> v2, and v2 cannot be fetched
        registry.lose_artifacts("2")
        assert runtime.check_for_update() == "unavailable"
        info = _model(c)  # v3 is not in v2's lineage [1]: v1, the champion before v2, answers
        assert (info["version"], info["stand_in_for"]) == ("1", "2")


def test_with_nothing_in_the_lineage_a_running_service_keeps_its_model_flagged(serving_settings, registry):
    registry.register(build_model())
    with TestClient(create_app(serving_settings, reader=FakeReader(), poll=False)) as c:
        runtime = c.app.state.runtime
        registry.register(build_model(bias=BIAS + 1), champion=False)  # v2, no lineage
        registry.move_alias("2")
        registry.lose_artifacts("2")
        assert runtime.check_for_update() == "unavailable"
        info = _model(c)
        assert (info["version"], info["stand_in_for"]) == ("1", "2")
        assert "not in its lineage" in info["stand_in_reason"]
        assert c.get("/readyz").status_code == 200  # an outage of every replica would be worse


def test_a_start_without_the_champion_or_its_lineage_stays_unready(serving_settings, registry):
    registry.register(build_model())
    registry.lose_artifacts("1")
    with TestClient(create_app(serving_settings, reader=FakeReader(), poll=False)) as c:
        ready = c.get("/readyz")
        assert ready.status_code == 503
        assert "download of flight-delay v1 failed" in ready.json()["last_reload_error"]
        assert c.app.state.runtime.check_for_update() == "unavailable"
        assert c.get("/readyz").status_code == 503


def test_a_local_start_is_flagged_until_the_registry_confirms_it(serving_settings, registry):
    registry.register(build_model())
    ModelStore(serving_settings).load_champion()  # a verified local copy
    offline = serving_settings.model_copy(update={"mlflow_tracking_uri_override": NOWHERE})
    with TestClient(create_app(offline, reader=FakeReader(), poll=False)) as c:
        info = _model(c)
        assert (info["version"], info["source"]) == ("1", "local")
        assert "registry unavailable" in info["stand_in_reason"]
        c.app.state.runtime.store = ModelStore(serving_settings)  # MLflow is back
        assert c.app.state.runtime.check_for_update() == "unchanged"
        assert _model(c)["stand_in_reason"] is None
        assert "flightpath_model_stand_in 0.0" in c.get("/metrics").text


def test_an_unwritable_model_folder_neither_stops_start_up_nor_loses_the_model(serving_settings, registry):
    """The models folder is a regular file (what a full or read-only disk looks like to mkdir, and
    unlike chmod it also stops root): start-up serves the champion from memory, a new champion is
    still taken (downloaded elsewhere), nothing is re-downloaded or refused, the condition shows in
    /readyz and a gauge, and the copies are written once the folder can be."""
    models_dir = serving_settings.models_dir
    models_dir.parent.mkdir(parents=True, exist_ok=True)
    models_dir.write_text("not a folder")
    registry.register(build_model())
    with TestClient(create_app(serving_settings, reader=FakeReader(), poll=False)) as c:
        runtime = c.app.state.runtime
        ready = c.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["model_cache"]["ok"] is False
        assert "Not a directory" in ready.json()["model_cache"]["detail"]
        assert c.post("/v1/predict", json=FLIGHT).json()["model"]["version"] == "1"
        assert "flightpath_model_cache_ok 0.0" in c.get("/metrics").text

        registry.register(build_model(bias=BIAS + 1))  # v2 becomes champion
        assert runtime.check_for_update() == "swapped"
        assert runtime.check_for_update() == "unchanged"  # served from memory, not fetched again
        assert c.post("/v1/predict", json=FLIGHT).json()["model"]["version"] == "2"
        runtime.report_cache()  # inside its back-off: not retried yet, still reported
        assert c.get("/readyz").json()["model_cache"]["ok"] is False

        models_dir.unlink()  # space returns
        runtime.store.retry_cache(now=time.monotonic() + 3600)  # past any back-off
        runtime.report_cache()
        assert c.get("/readyz").json()["model_cache"] == {"ok": True, "detail": None}
        assert "flightpath_model_cache_ok 1.0" in c.get("/metrics").text

    # What was written is a real verified copy: a start without MLflow serves v2 from it.
    offline = serving_settings.model_copy(update={"mlflow_tracking_uri_override": NOWHERE})
    model = ModelStore(offline).load_newest_local()
    assert (model.version, model.source) == ("2", "local")


def test_a_forged_or_unsigned_champion_is_refused_and_the_old_model_keeps_serving(serving_settings, registry):
    """Someone with write access to MLflow uploads a model, tags its correct sha256 and moves
    `champion`: without the pipeline's private key it is refused, and v1 keeps answering."""
    registry.register(build_model())
    with TestClient(create_app(serving_settings, reader=FakeReader(), poll=False)) as c:
        runtime = c.app.state.runtime
        registry.register(build_model(bias=BIAS + 5), signature="forged")  # v2: another key
        assert runtime.check_for_update() == "refused"
        assert "signature does not verify" in runtime.last_reload_error
        registry.register(build_model(bias=BIAS + 5), signature="none")  # v3: no signature at all
        assert runtime.check_for_update() == "refused"
        assert "is not signed" in runtime.last_reload_error
        answer = c.post("/v1/predict", json=FLIGHT).json()
        assert answer["model"]["version"] == "1"
        assert c.get("/v1/model").json()["stand_in_for"] == "3"  # flagged: the champion is not served
    assert not (serving_settings.models_dir / "flight-delay" / "3").exists()  # nothing refused is cached


def test_a_tampered_local_copy_is_refused_at_a_cold_start(serving_settings, registry):
    """An attacker with the disk instead of MLflow: new bytes and a matching sha256 in meta.json."""
    import json

    registry.register(build_model())
    ModelStore(serving_settings).load_champion()  # v1 cached locally
    copy = serving_settings.models_dir / "flight-delay" / "1"
    evil = build_model(bias=BIAS + 5).SerializeToString()
    (copy / "model.onnx").write_bytes(evil)
    meta = json.loads((copy / "meta.json").read_text())
    meta["sha256"] = sha256_of(build_model(bias=BIAS + 5))
    (copy / "meta.json").write_text(json.dumps(meta))
    offline = serving_settings.model_copy(update={"mlflow_tracking_uri_override": NOWHERE})
    with pytest.raises(ModelStoreError, match="signature does not verify"):
        ModelStore(offline).load_newest_local()
