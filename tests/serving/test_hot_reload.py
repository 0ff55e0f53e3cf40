"""Hot reload: follow the champion alias, refuse bad artifacts, never stop serving."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from serving_fakes import BIAS, FakeReader, build_model, sha256_of

from features import contract
from serving.app import create_app

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
        registry.promote("1")
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
