"""Shadow traffic: every answered prediction request is also sent to the challenger's shadow service.

    FLIGHTPATH_SHADOW_URL=http://serving-shadow:8000     # on the live pods (k8s/base/serving-shadow)
    FLIGHTPATH_SERVING_ROLE=shadow                       # on the shadow pods: rows logged as "shadow"

After a POST to /v1/predict or /v1/score was answered 2xx, the same body goes to the same path of
the shadow service with the same X-Request-ID; its reply is read and thrown away, never returned.
The shadow logs its own answers with flags.source = "shadow", so the prediction log holds both
answers to each request, paired by request id (`flightpath release compare`), and monitoring,
which reads "predict" and "batch" rows, never mixes them in.

It must never cost the live answer: the copy leaves after the answer did, on the event loop, with a
short timeout; at most `max_in_flight` copies travel at once and the rest are dropped (counted:
flightpath_shadow_requests_total{outcome="dropped"}). A slow or absent shadow loses shadow rows,
not live ones. The copies go through serving/shadow_client.py (keep-alive HTTP/1.1 on asyncio
streams): httpx cost as much CPU per copy as the prediction itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.metrics import ServingMetrics

MIRRORED = ("/v1/predict", "/v1/score")
TIMEOUT_S = 2.0


class ShadowMirror:
    """ASGI middleware, innermost: it sees the body the route read and the status it answered."""

    def __init__(self, app: ASGIApp, *, url: str, metrics: ServingMetrics, max_in_flight: int = 32) -> None:
        self.app = app
        self.url = url.rstrip("/")
        self.metrics = metrics
        self.max_in_flight = max_in_flight
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()  # a reference each, or the loop may drop them
        self._client: Any = None  # a ShadowClient, made in the serving loop on first use

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in MIRRORED:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        status = 0

        async def receive_and_keep() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive_and_keep, send_and_watch)
        if 200 <= status < 300:
            self.mirror(scope["path"], b"".join(chunks), scope.get("state", {}).get("request_id"))

    def mirror(self, path: str, body: bytes, request_id: str | None) -> None:
        """Send a copy in the background; drop it when too many copies are already travelling."""
        if self._in_flight >= self.max_in_flight:
            self.metrics.shadow_requests.labels(outcome="dropped").inc()
            return
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._send(path, body, request_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, path: str, body: bytes, request_id: str | None) -> None:
        from serving.shadow_client import ShadowClient, ShadowReplyError

        outcome = "failed"
        try:
            if self._client is None:
                self._client = ShadowClient(self.url, timeout_s=TIMEOUT_S, max_idle=self.max_in_flight)
            headers = {"content-type": "application/json"}
            if request_id:
                headers["x-request-id"] = request_id
            status = await self._client.post(path, body, headers)
            outcome = "answered" if status < 400 else "failed"
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ShadowReplyError, ValueError):
            pass
        finally:
            self._in_flight -= 1
            self.metrics.shadow_requests.labels(outcome=outcome).inc()
