"""cli/k8s_load.py: load on a service with a line per interval, and the HPA's line beside it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cli import k8s_load
from cli.k8s_load import describe_hpa, drive, hpa_status

HPA = {
    "spec": {"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": 70}}}]},
    "status": {
        "currentReplicas": 2,
        "desiredReplicas": 4,
        "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 143}}}],
    },
}


@pytest.fixture
def service() -> Iterator[str]:
    """A stand-in service: 200 to every POST, 503 to every fifth."""
    count = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            count["n"] += 1
            self.send_response(503 if count["n"] % 5 == 0 else 200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_load_reports_each_interval_and_counts_errors(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(k8s_load, "REPORT_EVERY_S", 0.5)
    lines: list[str] = []
    total = drive(service, seconds=2, concurrency=4, hpa=lambda: "hpa cpu 10%/70%", echo=lines.append)
    assert total.answered > 0 and total.errors > 0  # the stand-in refuses every fifth
    assert abs(total.errors * 4 - total.answered) <= 8
    assert len(lines) >= 3 and all("req/s" in line and line.endswith("hpa cpu 10%/70%") for line in lines)


def test_the_hpa_line_says_cpu_against_target_and_replicas() -> None:
    assert describe_hpa(HPA) == "hpa cpu 143%/70%  replicas 2 -> 4"
    no_metrics = {"spec": HPA["spec"], "status": {"currentReplicas": 2, "desiredReplicas": 2}}
    assert describe_hpa(no_metrics) == "hpa cpu <unknown>/70%  replicas 2 -> 2"  # no metrics-server


def test_hpa_status_asks_kubectl_in_the_given_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "kubectl"
    fake.write_text(f"#!/bin/sh\necho \"$*\" > {tmp_path}/args\ncat <<'EOF'\n{json.dumps(HPA)}\nEOF\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert hpa_status("kind-flightpath") == "hpa cpu 143%/70%  replicas 2 -> 4"
    assert (tmp_path / "args").read_text().split() == [
        "--context", "kind-flightpath", "-n", "flightpath", "get", "hpa", "serving", "-o", "json",
    ]  # fmt: skip
    assert hpa_status(None) == ""  # no context: load only
