"""The HTTP contract: validation, the answer, degraded mode, request ids, model info, metrics."""

from __future__ import annotations

import json

import pytest
from serving_fakes import STORE_VALUES, THRESHOLD, FakeReader, expected_probability

from features import contract
from features.request_time import calendar_features
from flightpath.prediction_table import read_rows
from serving.log_shipper import LogShipper

FLIGHT = {
    "carrier": "UA",
    "flight": 1545,
    "tailnum": "N14228",
    "origin": "EWR",
    "dest": "IAH",
    "sched_dep_local": "2013-01-01T05:15:00",
}


def logged_rows(client) -> list[dict]:
    """All rows of the log once a shipper pass has loaded the spool (in-process apps have no
    shipper process: the test plays its part, as `flightpath serve`'s would)."""
    settings = client.app.state.runtime.settings
    LogShipper(settings).ship_once()
    return read_rows(settings.prediction_log_url)


def sample(metrics_text: str, line_prefix: str) -> float:
    """The value of one sample in Prometheus text format (0 if absent)."""
    for line in metrics_text.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def expected_for(flight: dict, store: dict) -> float:
    import datetime as dt

    row: dict = dict(store)
    row.update(calendar_features(dt.datetime.fromisoformat(flight["sched_dep_local"]).replace(tzinfo=None)))
    row.update({k: flight[k] for k in contract.CATEGORICAL_FEATURES})
    return expected_probability(row)


def test_predict_answers_with_the_models_probability_and_logs_a_row(client, fake_reader):
    r = client.post("/v1/predict", json=FLIGHT, headers={"X-Request-ID": "req-42"})
    assert r.status_code == 200, r.text
    body = r.json()
    # The exact probability proves every store, calendar and categorical value reached its input.
    assert body["probability"] == pytest.approx(expected_for(FLIGHT, STORE_VALUES), abs=1e-6)
    assert body["delayed"] == (body["probability"] >= THRESHOLD)
    assert body["threshold"] == THRESHOLD
    assert body["model"] == {"name": "flight-delay", "version": "1"}
    assert body["missing_features"] == ["wx_wind_gust"]
    assert body["degraded"] is False
    assert body["request_id"] == "req-42" == r.headers["x-request-id"]
    # Every join key, composite ones included, spelled as features.keys.entity_keys spells them.
    assert fake_reader.calls == [
        [
            {
                "origin": "EWR",
                "tailnum": "N14228",
                "carrier": "UA",
                "route": "EWR-IAH",
                "origin_hour": "EWR|2013-01-01T05",
            }
        ]
    ]

    (row,) = [r for r in logged_rows(client) if r["request_id"] == "req-42"]
    assert row["request_id"] == "req-42"
    assert row["model_version"] == "1"
    assert row["probability"] == pytest.approx(body["probability"])
    assert row["inputs"]["sched_dep_local"] == "2013-01-01T05:15:00-05:00"
    assert str(row["flight_day"]) == "2013-01-01"  # the local day monitoring reads it back by
    assert row["features"]["wx_temp"] == 39.0 and row["features"]["wx_wind_gust"] is None
    assert row["features"]["sched_hour"] == 5.25 and row["features"]["origin"] == "EWR"
    assert row["flags"] == {
        "source": "predict",
        "degraded": False,
        "degraded_reason": None,
        "missing": ["wx_wind_gust"],
        "unknown_categories": [],
        "stale_views": [],
    }
    assert row["latency_ms"] > 0


def test_request_id_is_generated_when_absent_or_unsafe(client):
    a = client.post("/v1/predict", json=FLIGHT)
    b = client.post("/v1/predict", json=FLIGHT, headers={"X-Request-ID": "bad id\twith spaces"})
    for r in (a, b):
        assert r.status_code == 200
        assert len(r.headers["x-request-id"]) == 32 and r.json()["request_id"] == r.headers["x-request-id"]
    assert a.headers["x-request-id"] != b.headers["x-request-id"]


def test_missing_tailnum_is_answered_with_plane_features_flagged(client):
    flight = {k: v for k, v in FLIGHT.items() if k != "tailnum"}
    r = client.post("/v1/predict", json=flight)
    assert r.status_code == 200
    assert {"plane_year", "plane_seats", "plane_engines"} <= set(r.json()["missing_features"])


DEGRADED = 'flightpath_degraded_predictions_total{reason="online_store_unavailable"}'


def test_degraded_mode_when_the_online_store_is_down(client, fake_reader):
    before = sample(client.get("/metrics").text, DEGRADED)
    fake_reader.down = True
    r = client.post("/v1/predict", json=FLIGHT)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["degraded"] is True
    assert body["missing_features"] == list(contract.STORE_FEATURES)
    # All store features imputed (NaN -> 0 in this model): only calendar + categoricals remain.
    assert body["probability"] == pytest.approx(expected_for(FLIGHT, {}), abs=1e-6)
    # Still ready (a fleet that turns unready together is an outage), but the body says why.
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["online_store"]["status"] == "down"
    metrics = client.get("/metrics").text
    assert sample(metrics, DEGRADED) == before + 1
    assert "flightpath_online_store_up 0.0" in metrics


def test_a_buggy_reader_degrades_instead_of_failing(client, fake_reader):
    fake_reader.values = "not a dict"  # .read() now raises TypeError/AttributeError inside
    r = client.post("/v1/predict", json=FLIGHT)
    assert r.status_code == 200 and r.json()["degraded"] is True


@pytest.mark.parametrize(
    ("change", "field", "needle"),
    [
        ({"origin": "BOS"}, "origin", "'EWR', 'JFK' or 'LGA'"),
        ({"sched_dep_local": "2013-03-10T02:30:00"}, "sched_dep_local", "does not exist"),
        ({"sched_dep_local": "2013-06-01T08:00:00-05:00"}, "sched_dep_local", "offset"),
        ({"sched_dep_local": "2014-01-02T08:00:00"}, "sched_dep_local", "2013-12-31"),
        # The ends of the calendar: converting them to UTC overflows (it answered 500 once).
        ({"sched_dep_local": "9999-12-31T23:00:00"}, "sched_dep_local", "2013-12-31"),
        ({"sched_dep_local": "0001-01-01T00:00:00"}, "sched_dep_local", "2013-12-31"),
        ({"sched_dep_local": "9999-12-31T23:00:00-14:00"}, "sched_dep_local", "2013-12-31"),
        ({"flight": "abc"}, "flight", "integer"),
        ({"carrier": None}, "carrier", "string"),
    ],
)
def test_invalid_requests_are_422_naming_the_field(client, change, field, needle):
    r = client.post("/v1/predict", json={**FLIGHT, **change})
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]
    assert any(e["loc"][-1] == field and needle in e["msg"] for e in errors), errors


_REST = '"origin": "EWR", "dest": "IAH", "sched_dep_local": "2013-01-01T05:15"'


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/predict", '{"carrier": "UA", "flight": NaN, ' + _REST + "}"),
        ("/v1/predict", '{"carrier": "UA", "flight": Infinity, ' + _REST + "}"),
        ("/v1/predict/batch", '{"flights": [{"carrier": "UA", "flight": -Infinity, ' + _REST + "}]}"),
    ],
)
def test_non_finite_numbers_in_the_body_are_a_422_that_serializes(client, fake_reader, path, body):
    """Python's JSON reader accepts NaN and Infinity; the 422 echoes the input, and a JSON encoder
    that refuses non-finite floats turned that into a 500."""
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] and fake_reader.calls == []


def test_non_finite_score_inputs_are_a_422_that_serializes(client):
    raw: dict = {name: 1.0 for name in contract.NUMERIC_FEATURES}
    raw.update({"carrier": "B6", "origin": "JFK", "dest": "ORD"})
    for bad in ("NaN", "Infinity", "-Infinity"):
        body = json.dumps(raw).replace('"wx_temp": 1.0', f'"wx_temp": {bad}')
        assert bad in body
        r = client.post("/v1/score", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text
        assert any(e["loc"][-1] == "wx_temp" for e in r.json()["detail"])


def test_a_lone_surrogate_is_a_422_that_echoes_the_escape(client, fake_reader):
    """JSON's "\\ud800" gives Python a string UTF-8 cannot encode; echoing it turned the 422 into a 500."""
    body = '{"carrier": "\\ud800", "flight": 1, ' + _REST + "}"
    r = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["input"] == "\\ud800" and fake_reader.calls == []


@pytest.mark.parametrize("tailnum", [r"N1\u0000", r"\ud800", r"N\t1"])
def test_control_characters_and_surrogates_in_free_text_are_refused(client, fake_reader, tailnum):
    body = '{"carrier": "UA", "flight": 1, "tailnum": "' + tailnum + '", ' + _REST + "}"
    r = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert "printable" in r.json()["detail"][0]["msg"]


def test_score_numbers_beyond_float32_are_a_422_not_an_overflow(client):
    raw: dict = {name: 1.0 for name in contract.NUMERIC_FEATURES}
    raw.update({"carrier": "B6", "origin": "JFK", "dest": "ORD", "wx_temp": 1e308})
    r = client.post("/v1/score", json=raw)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][-1] == "wx_temp"
    assert client.post("/v1/score", json={**raw, "wx_temp": 3.4e38}).status_code == 200


def test_missing_field_is_422(client, fake_reader):
    flight = {k: v for k, v in FLIGHT.items() if k != "dest"}
    r = client.post("/v1/predict", json=flight)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "dest"]
    assert fake_reader.calls == []  # refused before any feature read


def test_ambiguous_local_time_takes_the_first_occurrence(client):
    # 2013-11-03 01:30 happens twice in New York; the first is EDT (-04:00).
    r = client.post(
        "/v1/predict", json={**FLIGHT, "sched_dep_local": "2013-11-03T01:30:00"}, headers={"X-Request-ID": "fold"}
    )
    assert r.status_code == 200
    rows = logged_rows(client)
    assert [r_["inputs"]["sched_dep_local"] for r_ in rows if r_["request_id"] == "fold"] == [
        "2013-11-03T01:30:00-04:00"
    ]


def test_lowercase_codes_are_normalised(client, fake_reader):
    r = client.post("/v1/predict", json={**FLIGHT, "origin": "ewr", "carrier": "ua"})
    assert r.status_code == 200
    assert fake_reader.calls[-1][0]["origin"] == "EWR"


def test_batch_predicts_every_flight_with_one_read(client, fake_reader):
    flights = [FLIGHT, {**FLIGHT, "origin": "JFK", "sched_dep_local": "2013-07-04T18:00:00"}]
    r = client.post("/v1/predict/batch", json={"flights": flights}, headers={"X-Request-ID": "b"})
    assert r.status_code == 200
    preds = r.json()["predictions"]
    assert [p["request_id"] for p in preds] == ["b:0", "b:1"]
    assert [p["probability"] for p in preds] == pytest.approx(
        [expected_for(f, STORE_VALUES) for f in flights], abs=1e-6
    )
    assert len(fake_reader.calls) == 1 and len(fake_reader.calls[0]) == 2


def test_score_runs_the_model_on_raw_inputs(client, fake_reader):
    raw: dict = {name: None for name in contract.NUMERIC_FEATURES}
    raw.update({"wx_precip": 0.5, "sched_hour": 17.0, "carrier": "B6", "origin": "JFK", "dest": "ORD"})
    r = client.post("/v1/score", json=raw)
    assert r.status_code == 200, r.text
    assert r.json()["probability"] == pytest.approx(expected_probability(raw), abs=1e-6)
    assert fake_reader.calls == []  # model only
    missing_input = {k: v for k, v in raw.items() if k != "wx_temp"}
    assert client.post("/v1/score", json=missing_input).status_code == 422


def test_model_endpoint_describes_the_champion(client):
    from serving_fakes import build_model, sha256_of

    info = client.get("/v1/model").json()
    assert info["version"] == "1" and info["alias"] == "champion" and info["source"] == "registry"
    assert info["threshold"] == THRESHOLD
    assert info["sha256"] == sha256_of(build_model())
    assert info["feature_service"] == "flight_delay_v1"
    assert info["feature_service_version"] == contract.feature_service_version()
    assert info["train_window"] == "2013-01-01..2013-01-14"
    assert sorted(info["inputs"]) == sorted(contract.MODEL_INPUTS)


def test_health_readiness_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["model_version"] == "1" and ready.json()["online_store"]["status"] == "up"
    assert ready.json()["prediction_log"]["ok"] is True and ready.json()["prediction_log"]["backlog_rows"] == 0
    latency = 'flightpath_request_duration_seconds_count{method="POST",route="/v1/predict",status="200"}'
    gust = 'flightpath_missing_features_total{feature="wx_wind_gust"}'
    before = client.get("/metrics").text
    client.post("/v1/predict", json=FLIGHT)
    text = client.get("/metrics").text
    for name in (
        "flightpath_request_duration_seconds_bucket",
        "flightpath_requests_in_flight",
        "flightpath_model_info",
        "flightpath_missing_features_total",
        "flightpath_degraded_predictions",
        "flightpath_prediction_score_bucket",
        "flightpath_prediction_log_dropped_rows",
        "flightpath_prediction_log_accepted_rows_total",
        "flightpath_prediction_spool_ok",
        "flightpath_online_store_up",
    ):
        assert name in text, name
    assert sample(text, latency) == sample(before, latency) + 1
    assert 'flightpath_model_info{name="flight-delay",' in text and 'version="1"' in text
    assert sample(text, gust) == sample(before, gust) + 1


def test_readiness_is_false_while_draining(client):
    client.app.state.runtime.draining = True
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["draining"] is True
    assert client.get("/healthz").status_code == 200  # alive, just not taking traffic


def test_openapi_has_the_notes_and_examples(client):
    spec = client.get("/openapi.json").json()
    assert "Readiness vs liveness" in spec["info"]["description"]
    schemas = spec["components"]["schemas"]
    assert schemas["FlightRequest"]["examples"][0]["origin"] == "EWR"
    assert "examples" in schemas["ScoreRequest"]


def test_no_model_means_unready_and_503(serving_settings):
    """Empty registry and no local copy: the process is up but unready, and says so."""
    from fastapi.testclient import TestClient

    from serving.app import create_app

    with TestClient(create_app(serving_settings, reader=FakeReader(), poll=False)) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["model_version"] is None and r.json()["last_reload_error"]
        assert c.post("/v1/predict", json=FLIGHT).status_code == 503


def test_start_up_objects_are_frozen_out_of_the_garbage_collectors_reach(client):
    """Full collections walked every start-up object (240-265 ms pauses in make bench)."""
    import gc

    assert gc.get_freeze_count() > 10_000  # the model, Feast and MLflow modules, ...


@pytest.mark.parametrize("reads_locally", [True, False])
def test_a_local_store_is_read_on_the_event_loop_a_network_store_in_the_thread_pool(
    client, fake_reader, monkeypatch, reads_locally
):
    import threading

    threads: list[str] = []
    real_read = fake_reader.read

    def recording_read(entities):
        threads.append(threading.current_thread().name)
        return real_read(entities)

    monkeypatch.setattr(fake_reader, "read", recording_read)
    if reads_locally:
        monkeypatch.setattr(fake_reader, "reads_locally", True, raising=False)
    r = client.post("/v1/predict", json=FLIGHT)
    assert r.status_code == 200 and r.json()["degraded"] is False
    # anyio names its thread-pool threads "AnyIO worker thread"; the event loop runs elsewhere
    in_pool = threads == ["AnyIO worker thread"]
    assert in_pool is (not reads_locally), threads


def test_probes_answer_while_the_thread_pool_is_saturated(client, fake_reader, monkeypatch):
    """Liveness and readiness must not queue behind batch and Redis work: a busy pod that fails
    its liveness probe gets restarted, which turns load into an outage."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import anyio.to_thread

    release = threading.Event()
    entered = threading.Semaphore(0)
    real_read = fake_reader.read

    def stuck_read(entities):  # a network store that hangs (read in the thread pool)
        entered.release()
        release.wait(30)
        return real_read(entities)

    monkeypatch.setattr(fake_reader, "read", stuck_read)
    pool_size = 2

    async def shrink() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = pool_size

    client.portal.call(shrink)
    with ThreadPoolExecutor(max_workers=pool_size + 2) as clients:
        busy = [clients.submit(client.post, "/v1/predict", json=FLIGHT) for _ in range(pool_size)]
        try:
            for _ in range(pool_size):
                assert entered.acquire(timeout=10), "the stuck reads never started"
            probes = [clients.submit(client.get, path) for path in ("/healthz", "/readyz")]
            answers = [p.result(timeout=5) for p in probes]  # a queued probe would wait for `release`
            assert [a.status_code for a in answers] == [200, 200]
        finally:
            release.set()
        assert all(b.result(timeout=30).status_code == 200 for b in busy)


def test_every_metric_the_serving_dashboard_plots_is_exported(client):
    """A renamed metric would leave a Grafana panel empty without any error."""
    import re
    from pathlib import Path

    dashboard = Path(__file__).resolve().parents[2] / "infra" / "grafana" / "dashboards" / "serving.json"

    def family(name: str) -> str:
        return re.sub(r"_(total|bucket|count|sum|created)$", "", name)

    plotted = {family(m) for m in re.findall(r"\b(flightpath_[a-z_]+)", dashboard.read_text())}
    # Families are listed (# TYPE) even before a labelled one has its first sample.
    exported = {family(m) for m in re.findall(r"^# TYPE (flightpath_[a-z_]+)", client.get("/metrics").text, re.M)}
    missing = plotted - exported
    assert not missing, missing
