"""Hardening in-process: body limit (413), load shedding (503), unknown categories, freshness."""

from __future__ import annotations

import asyncio
import datetime as dt

from serving_fakes import FLIGHT, STORE_VALUES

from serving.metrics import ServingMetrics
from serving.middleware import LimitsMiddleware

MIB = 1024 * 1024


def test_a_declared_oversized_body_is_refused_with_413_before_it_is_parsed(client):
    big = b'{"flights": [' + b" " * (MIB + 10) + b"]}"
    r = client.post("/v1/predict/batch", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "1048576" in r.json()["detail"]
    assert 'flightpath_requests_rejected_total{reason="body_too_large"}' in client.get("/metrics").text
    assert client.post("/v1/predict", json=FLIGHT).status_code == 200  # the next request is fine


def test_a_chunked_body_is_cut_off_at_the_limit(client):
    sent = []

    def chunks():  # no Content-Length: httpx sends Transfer-Encoding: chunked
        for _ in range(40):
            sent.append(1)
            yield b" " * 65536

    r = client.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    # A small chunked body still gets through the replay.
    import json

    r = client.post(
        "/v1/predict", content=iter([json.dumps(FLIGHT).encode()]), headers={"content-type": "application/json"}
    )
    assert r.status_code == 200, r.text


def test_requests_beyond_the_in_flight_bound_are_shed_with_retry_after():
    """Drive the middleware directly: 3 slow requests, a bound of 2 -> one 503, probes still pass."""
    release = asyncio.Event()

    async def slow_app(scope, receive, send):
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    metrics = ServingMetrics()
    mw = LimitsMiddleware(slow_app, metrics=metrics, max_body_bytes=MIB, max_in_flight=2)

    async def call(path: str) -> tuple[int, dict[bytes, bytes]]:
        got: dict = {}

        async def send(message):
            if message["type"] == "http.response.start":
                got["status"], got["headers"] = message["status"], dict(message["headers"])

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        scope = {"type": "http", "method": "GET", "path": path, "headers": [(b"content-length", b"0")]}
        await mw(scope, receive, send)
        return got["status"], got["headers"]

    async def scenario():
        first = [asyncio.create_task(call("/v1/model")) for _ in range(2)]
        await asyncio.sleep(0.05)
        shed_status, shed_headers = await call("/v1/model")  # answers at once, does not wait
        probe = asyncio.create_task(call("/readyz"))  # never shed
        await asyncio.sleep(0.05)
        release.set()
        return [await t for t in first], (shed_status, shed_headers), await probe

    admitted, (status, headers), probe = asyncio.run(scenario())
    assert [s for s, _ in admitted] == [200, 200]
    assert status == 503 and headers[b"retry-after"] == b"1"
    assert probe[0] == 200
    assert mw.in_flight == 0
    assert metrics.rejected.labels(reason="overload")._value.get() == 1


def test_unknown_carrier_and_destination_are_flagged_and_counted(client):
    r = client.post("/v1/predict", json={**FLIGHT, "carrier": "ZZ", "dest": "XYZ"})
    assert r.status_code == 200, r.text
    assert r.json()["unknown_categories"] == ["carrier", "dest"]
    assert client.post("/v1/predict", json=FLIGHT).json()["unknown_categories"] == []
    batch = client.post("/v1/predict/batch", json={"flights": [FLIGHT, {**FLIGHT, "dest": "QQQ"}]}).json()
    assert [p["unknown_categories"] for p in batch["predictions"]] == [[], ["dest"]]
    text = client.get("/metrics").text
    assert 'flightpath_unknown_categories_total{feature="dest"} 2.0' in text
    assert 'flightpath_unknown_categories_total{feature="carrier"} 1.0' in text


def test_score_flags_unknown_categories_too(client):
    body = {name: None for name in STORE_VALUES}
    body.update(
        {
            "sched_hour": 5.0,
            "sched_weekday": 1.0,
            "sched_month": 1.0,
            "days_to_holiday": 0.0,
            "carrier": "UA",
            "origin": "EWR",
            "dest": "NOPE",
        }
    )
    r = client.post("/v1/score", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["unknown_categories"] == ["dest"]


def test_the_vocabularies_come_from_the_models_label_encoders(client):
    model = client.app.state.runtime.model
    assert model.vocabularies["carrier"] == {"UA", "AA", "B6"}
    assert model.vocabularies["dest"] == {"IAH", "ORD"}


def test_freshness_gauge_and_stale_flag(client, fake_reader):
    # Prediction time: 05:15 EST = 10:15 UTC, minus the 2 h horizon = 08:15 UTC.
    fresh = dt.datetime(2013, 1, 1, 7, 0, tzinfo=dt.UTC)  # 1 h 15 old: inside weather's 3 h TTL
    old = dt.datetime(2013, 1, 1, 4, 0, tzinfo=dt.UTC)  # 4 h 15 old: stale
    fake_reader.event_timestamps = {"weather_at_origin": fresh, "plane_profile": old, "carrier_performance": None}
    body = client.post("/v1/predict", json=FLIGHT).json()
    assert body["stale_views"] == []  # plane_profile never expires; a None stamp is missing, not stale
    fake_reader.event_timestamps = {"weather_at_origin": old}
    body = client.post("/v1/predict", json=FLIGHT).json()
    assert body["stale_views"] == ["weather_at_origin"]
    text = client.get("/metrics").text
    (gauge,) = [
        line
        for line in text.splitlines()
        if line.startswith('flightpath_feature_event_timestamp_seconds{view="weather_at_origin"}')
    ]
    assert float(gauge.split()[-1]) == old.timestamp()
    assert 'flightpath_stale_feature_views_total{view="weather_at_origin"} 1.0' in text
    assert 'flightpath_feature_fetch_seconds_count{outcome="ok"}' in text


def _drive(mw: LimitsMiddleware, receive, *, path: str = "/v1/predict") -> asyncio.Task:
    """Start one request through the middleware; the task's result is (status, headers)."""

    async def run() -> tuple[int | None, dict[bytes, bytes]]:
        got: dict = {"status": None, "headers": {}}

        async def send(message):
            if message["type"] == "http.response.start":
                got["status"], got["headers"] = message["status"], dict(message["headers"])

        scope = {"type": "http", "method": "POST", "path": path, "headers": [(b"content-length", b"100")]}
        await mw(scope, receive, send)
        return got["status"], got["headers"]

    return asyncio.ensure_future(run())


def test_a_body_still_arriving_holds_no_capacity_and_times_out_with_408():
    """max_in_flight=2 and five clients stuck mid-body: a complete request is still admitted, and
    each stuck one gets 408 + Connection: close once its deadline passes."""
    seen_bodies: list[bytes] = []

    async def app(scope, receive, send):
        message = await receive()
        seen_bodies.append(message["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    metrics = ServingMetrics()
    mw = LimitsMiddleware(app, metrics=metrics, max_body_bytes=MIB, max_in_flight=2, body_timeout_s=0.3)

    def stuck_receive():
        sent = []

        async def receive():
            if not sent:
                sent.append(1)
                return {"type": "http.request", "body": b"x" * 10, "more_body": True}
            await asyncio.Event().wait()  # never

        return receive

    def chunks(*parts: bytes):
        queue = list(parts)

        async def receive():
            body = queue.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(queue)}

        return receive

    async def scenario():
        slow = [_drive(mw, stuck_receive()) for _ in range(5)]
        await asyncio.sleep(0.05)
        assert mw.in_flight == 0  # nobody counted while their bodies are incomplete
        complete = await _drive(mw, chunks(b'{"a":', b" 1}"))
        return complete, [await t for t in slow]

    complete, slow = asyncio.run(scenario())
    assert complete[0] == 200 and seen_bodies == [b'{"a": 1}']  # chunks arrive joined, in one message
    assert [status for status, _ in slow] == [408] * 5
    assert all(headers[b"connection"] == b"close" for _, headers in slow)
    assert metrics.rejected.labels(reason="body_timeout")._value.get() == 5
    assert mw.in_flight == 0
