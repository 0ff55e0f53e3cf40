"""Two pure-ASGI middlewares: request id in and out, latency and in-flight metrics
(ObservabilityMiddleware); body-size limit and load shedding (LimitsMiddleware).

Pure ASGI rather than `@app.middleware("http")` (BaseHTTPMiddleware): that one wraps every
request in extra tasks and streams, which costs a measurable share of a sub-millisecond request.
"""

from __future__ import annotations

import asyncio
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
class _BodyTooLarge(Exception):
    """A body that grew past the size limit while it was read."""


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
    - Body time: the whole body must arrive within `body_timeout_s` of the request's start, or the
      answer is 408 and the connection is closed. A total deadline, not a per-chunk one: a client
      that trickles a byte a second would never trip a per-chunk timeout.
    - Concurrency: more than `max_in_flight` requests in this worker -> 503 + Retry-After at once,
      rather than an unbounded queue in front of the thread pool (latency that only grows).
      Only a request whose body has fully arrived counts: a client still sending holds no thread
      and no capacity, so slow senders cannot shed everyone else (they cost a buffer and a socket,
      bounded by `max_body_bytes` and `body_timeout_s`).
    One event loop per worker, so a plain int is the counter (no lock).
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: ServingMetrics,
        max_body_bytes: int,
        max_in_flight: int,
        body_timeout_s: float = 10.0,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.max_in_flight = max_in_flight
        self.body_timeout_s = body_timeout_s
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in UNSHED_PATHS:
            await self.app(scope, receive, send)
            return
        body = await self._read_body(scope, receive, send)
        if body is None:  # already answered (413, 408) or the client went away
            return
        if self.in_flight >= self.max_in_flight:
            self.metrics.rejected.labels(reason="overload").inc()
            await _json_reply(
                send, 503, f"overloaded: {self.max_in_flight} requests in flight; retry", [(b"retry-after", b"1")]
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only ever http.disconnect

        self.in_flight += 1
        try:
            await self.app(scope, replay, send)
        finally:
            self.in_flight -= 1

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole request body, within the size and time limits; None once it was answered."""
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                break
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(send)
            return None
        if declared is None and scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return b""
        # asyncio.timeout arms one timer for the whole body; wait_for around each receive() would
        # wrap every chunk in a task of its own, a cost on every sub-millisecond request.
        try:
            async with asyncio.timeout(self.body_timeout_s):
                body = await self._receive_all(receive)
        except _BodyTooLarge:  # chunked, or a Content-Length uvicorn did not hold to
            await self._too_large(send)
            return None
        except TimeoutError:
            self.metrics.rejected.labels(reason="body_timeout").inc()
            # Connection: close tells uvicorn to drop the connection after the answer: the rest
            # of a half-sent body must not be parsed as the next request.
            await _json_reply(
                send,
                408,
                f"request body not received within {self.body_timeout_s:g} s",
                [(b"connection", b"close")],
            )
            return None
        return body

    async def _receive_all(self, receive: Receive) -> bytes | None:
        """The body's bytes, or None if the client went away; _BodyTooLarge past the size limit."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away mid-body
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _BodyTooLarge
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    async def _too_large(self, send: Send) -> None:
        self.metrics.rejected.labels(reason="body_too_large").inc()
        await _json_reply(send, 413, f"request body larger than {self.max_body_bytes} bytes", [])
