"""The shadow copies' HTTP client: keep-alive HTTP/1.1 POSTs on the event loop, replies discarded.

    client = ShadowClient("http://serving-shadow:8000", timeout_s=2.0, max_idle=32)
    status = await client.post("/v1/predict", body, {"x-request-id": "abc"})

Why not httpx: every live request on a pod with a shadow pays for one copy, and httpx's
AsyncClient cost about as much CPU as the prediction itself (`make bench`, "With a shadow": the
live server's CPU per request 2.3 -> 9.2 ms at concurrency 1 on 2026-12-07; py-spy put 30% of the
worker's samples in httpx's request machinery). A copy needs one request line, three headers, a
body, and the status of the reply: this does only that, on asyncio streams, keeping connections
open between copies.

Plain http:// and https:// (TLS through the default context). A reply is read whole (by
Content-Length, chunks, or to the end of a closing connection) so the connection can be reused.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

MAX_REPLY_BYTES = 1 << 20  # a prediction's reply is ~300 bytes; anything huge is not ours


class ShadowReplyError(Exception):
    """The shadow answered something that is not an HTTP/1.x reply, or too big a one."""


_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class ShadowClient:
    """Keep-alive POSTs to one host; at most `max_idle` idle connections are kept."""

    def __init__(self, url: str, timeout_s: float, max_idle: int = 32) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"shadow url {url!r}: expected http://host[:port] or https://...")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.prefix = parts.path.rstrip("/")
        self.host_header = parts.netloc.encode()
        self.timeout_s = timeout_s
        self.max_idle = max_idle
        self._idle: list[_Connection] = []
        self.connections_opened = 0  # for tests and curiosity: keep-alive means this stays small

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        """POST `body`; the reply's status code. Raises OSError, TimeoutError, ShadowReplyError."""
        request = self._request(path, body, headers)
        async with asyncio.timeout(self.timeout_s):
            if self._idle:
                conn = self._idle.pop()
                try:
                    return await self._exchange(conn, request)
                except (OSError, asyncio.IncompleteReadError, ShadowReplyError):
                    pass  # the shadow closed an idle connection: once more on a new one
            return await self._exchange(await self._open(), request)

    async def aclose(self) -> None:
        while self._idle:
            _, writer = self._idle.pop()
            writer.close()

    def _request(self, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        lines = [
            f"POST {self.prefix}{path} HTTP/1.1".encode(),
            b"host: " + self.host_header,
            b"content-length: " + str(len(body)).encode(),
            *(f"{k}: {v}".encode() for k, v in headers.items()),
        ]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    async def _open(self) -> _Connection:
        self.connections_opened += 1
        return await asyncio.open_connection(self.host, self.port, ssl=self.ssl)

    async def _exchange(self, conn: _Connection, request: bytes) -> int:
        reader, writer = conn
        try:
            writer.write(request)
            await writer.drain()
            status, keep_alive = await self._read_reply(reader)
        except BaseException:
            writer.close()
            raise
        if keep_alive and len(self._idle) < self.max_idle:
            self._idle.append(conn)
        else:
            writer.close()
        return status

    @staticmethod
    async def _read_reply(reader: asyncio.StreamReader) -> tuple[int, bool]:
        status_line = await reader.readline()
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ShadowReplyError(f"not an HTTP reply: {status_line[:80]!r}")
        status = int(parts[1])
        keep_alive = parts[0] == b"HTTP/1.1"
        length: int | None = None
        chunked = False
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise asyncio.IncompleteReadError(b"", None)
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value:
                chunked = True
            elif name == b"connection":
                keep_alive = value == b"keep-alive" or (keep_alive and value != b"close")
        if chunked:
            total = 0
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                total += size
                if total > MAX_REPLY_BYTES:
                    raise ShadowReplyError("reply too large")
                await reader.readexactly(size + 2)  # the chunk and its CRLF (the last: just CRLF)
                if size == 0:
                    break
        elif length is not None:
            if length > MAX_REPLY_BYTES:
                raise ShadowReplyError("reply too large")
            await reader.readexactly(length)
        else:  # no length: the body ends when the shadow closes the connection
            await reader.read(MAX_REPLY_BYTES)
            keep_alive = False
        return status, keep_alive
