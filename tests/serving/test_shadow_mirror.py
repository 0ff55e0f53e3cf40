"""serving/shadow_mirror.py: answered requests copied to a shadow, never at the live answer's cost;
a shadow's own rows logged as "shadow"."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serving_fakes import FakeReader, Registry, build_model, settings_for

from features import contract
from flightpath.prediction_table import read_rows
from flightpath.processes import free_port
from serving.app import create_app
from serving.log_shipper import LogShipper
from serving.metrics import ServingMetrics
from serving.shadow_mirror import ShadowMirror

RAW: dict = {name: None for name in contract.NUMERIC_FEATURES} | {
    "wx_precip": 0.5,
    "sched_hour": 17.0,
    "carrier": "B6",
    "origin": "JFK",
    "dest": "ORD",
}


class Recorder(ThreadingHTTPServer):
    """A stand-in shadow service: records each request (path, body, X-Request-ID), answers 200."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict, str | None]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                recorder.seen.append((self.path, json.loads(body), self.headers.get("x-request-id")))
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def shadow() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def served(home: Path, registry: Registry, **overrides: object) -> TestClient:
    registry.register(build_model())
    return TestClient(create_app(settings_for(home, registry, **overrides), reader=FakeReader(), poll=False))


def counter(client: TestClient, outcome: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'flightpath_shadow_requests_total{{outcome="{outcome}"}}'):
            return float(line.split()[-1])
    return 0.0


def until(check, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_an_answered_request_is_copied_with_its_body_and_request_id(tmp_path, registry, shadow) -> None:
    with served(tmp_path / "home", registry, shadow_url=f"http://127.0.0.1:{shadow.server_port}") as c:
        bad = {k: v for k, v in RAW.items() if k != "wx_temp"}
        assert c.post("/v1/score", json=bad, headers={"x-request-id": "not-answered"}).status_code == 422
        answer = c.post("/v1/score", json=RAW, headers={"x-request-id": "mirror-1"})
        assert answer.status_code == 200, answer.text
        until(lambda: len(shadow.seen) >= 1)
        until(lambda: counter(c, "answered") == 1.0)
    assert shadow.seen == [("/v1/score", RAW, "mirror-1")]  # the 422 was not copied


def test_an_absent_shadow_costs_the_live_answer_nothing(tmp_path, registry) -> None:
    with served(tmp_path / "home", registry, shadow_url=f"http://127.0.0.1:{free_port()}") as c:
        for _ in range(3):
            assert c.post("/v1/score", json=RAW).status_code == 200
        until(lambda: counter(c, "failed") == 3.0)


def test_copies_beyond_the_bound_are_dropped_and_counted() -> None:
    metrics = ServingMetrics()
    mirror = ShadowMirror(None, url="http://127.0.0.1:9", metrics=metrics, max_in_flight=2)  # type: ignore[arg-type]
    mirror._in_flight = 2  # two copies already travelling
    mirror.mirror("/v1/score", b"{}", "r")
    assert metrics.shadow_requests.labels(outcome="dropped")._value.get() == 1.0


def test_a_shadow_logs_its_answers_as_shadow_rows(tmp_path, registry) -> None:
    with served(tmp_path / "home", registry, serving_role="shadow") as c:
        assert c.post("/v1/score", json=RAW, headers={"x-request-id": "copy-1"}).status_code == 200
        settings = c.app.state.runtime.settings  # type: ignore[attr-defined]
    LogShipper(settings).ship_once()
    (row,) = read_rows(settings.prediction_log_url)
    assert row["request_id"] == "copy-1" and row["flags"]["source"] == "shadow"
