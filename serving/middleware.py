"""Two pure-ASGI middlewares: request id in and out, latency and in-flight metrics
(ObservabilityMiddleware); body-size limit and load shedding (LimitsMiddleware).

Pure ASGI rather than `@app.middleware("http")` (BaseHTTPMiddleware): that one wraps every
request in extra tasks and streams, which costs a measurable share of a sub-millisecond request.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.metrics import ServingMetrics

REQUEST_ID_HEADER = "x-request-id"
_ids = random.Random()  # its own generator: nobody else's seed() can make ids repeat
os.register_at_fork(after_in_child=_ids.seed)  # a forked worker must not repeat its parent's ids
# Accept a caller's id only if it is short and harmless in logs and headers.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _VALID_ID.match(candidate):
                return candidate
            break
    # 128 random bits from Python's PRNG (seeded from os.urandom at start-up): unique enough for
    # correlating logs, and ~50x cheaper than uuid4, which makes a getrandom syscall per request.
    return f"{_ids.getrandbits(128):032x}"


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.metrics.in_flight.dec()
            # The route template ("/v1/predict"), never the raw path: bounded label cardinality.
            route: Any = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.request_latency.labels(route=path, method=scope["method"], status=str(status)).observe(
                time.perf_counter() - started
            )


# Platform endpoints are never shed: a probe that times out under load would restart or
# unroute a pod that is merely busy, which makes an overload worse.
UNSHED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


async def _json_reply(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


class LimitsMiddleware:
    """Per-worker admission control, before any parsing.

    - Body size: a Content-Length above `max_body_bytes` is a 413 without reading a byte; a body
      without one (chunked) is read up to the limit and refused as soon as it passes it.
    - Concurrency: more than `max_in_flight` requests in this worker -> 503 + Retry-After at once,
      rather than an unbounded queue in front of the thread pool (latency that only grows).
    One event loop per worker, so a plain int is the counter (no lock).
    """

    def __init__(self, app: ASGIApp, metrics: ServingMetrics, max_body_bytes: int, max_in_flight: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in UNSHED_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            self.metrics.rejected.labels(reason="overload").inc()
            await _json_reply(
                send, 503, f"overloaded: {self.max_in_flight} requests in flight; retry", [(b"retry-after", b"1")]
            )
            return
        self.in_flight += 1
        try:
            await self._admit_body(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _admit_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                length = value
                break
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared > self.max_body_bytes:
                await self._too_large(send)
                return
            # uvicorn's HTTP parser enforces Content-Length, so the app cannot read more than this.
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read up to the limit here, then replay it to the app.
        chunks: list[Message] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                chunks.append(message)
                break
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                await self._too_large(send)
                return
            chunks.append(message)
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return chunks.pop(0) if chunks else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        self.metrics.rejected.labels(reason="body_too_large").inc()
        await _json_reply(send, 413, f"request body larger than {self.max_body_bytes} bytes", [])
