"""serving/shadow_client.py against real sockets: keep-alive reuse, a connection the shadow closed,
chunked and length-less replies, HTTP/1.0, a timeout, and garbage."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from serving.shadow_client import ShadowClient, ShadowReplyError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, dict[bytes, bytes], bytes]:
    line = await reader.readline()
    headers = {}
    while (h := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = h.partition(b":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return line, headers, body


async def _serve(handler: Handler) -> tuple[asyncio.Server, str, list[int]]:
    connections: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", connections


def test_keep_alive_reuses_one_connection_and_sends_what_it_was_given() -> None:
    seen: list[tuple[bytes, dict[bytes, bytes], bytes]] = []

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not reader.at_eof():
            try:
                seen.append(await _read_request(reader))
            except asyncio.IncompleteReadError:
                return
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
            await writer.drain()

    async def main() -> list[int]:
        server, url, connections = await _serve(keep_alive)
        client = ShadowClient(url, timeout_s=2)
        codes = [await client.post("/v1/predict", b'{"a":1}', {"x-request-id": f"r{i}"}) for i in range(5)]
        await client.aclose()
        server.close()
        assert connections == [1] and client.connections_opened == 1
        return codes

    assert asyncio.run(main()) == [200] * 5
    line, headers, body = seen[0]
    assert line == b"POST /v1/predict HTTP/1.1\r\n" and body == b'{"a":1}'
    assert headers[b"x-request-id"] == b"r0" and headers[b"content-length"] == b"7"


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 201),
        (b"HTTP/1.0 200 OK\r\n\r\n{}", 200),  # no length: the body ends with the connection
        (b"HTTP/1.1 422 Unprocessable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n", 422),
    ],
)
def test_replies_of_every_framing_are_read(reply: bytes, status: int) -> None:
    async def one_reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(reply)
        await writer.drain()

    async def main() -> tuple[list[int], int]:
        server, url, _ = await _serve(one_reply)
        client = ShadowClient(url, timeout_s=2)
        codes = [await client.post("/x", b"{}", {}) for _ in range(2)]  # the 2nd: a new connection if closed
        server.close()
        return codes, client.connections_opened

    codes, opened = asyncio.run(main())
    assert codes == [status, status] and opened == 2  # each of these replies ends its connection


def test_an_idle_connection_the_shadow_closed_is_replaced_once() -> None:
    async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")  # says keep-alive, then closes
        await writer.drain()

    async def main() -> list[int]:
        server, url, connections = await _serve(one_then_close)
        client = ShadowClient(url, timeout_s=2)
        first = await client.post("/x", b"{}", {})
        await asyncio.sleep(0.1)  # the shadow has closed it by now
        second = await client.post("/x", b"{}", {})
        server.close()
        assert len(connections) == 2
        return [first, second]

    assert asyncio.run(main()) == [200, 200]


def test_a_silent_shadow_times_out_and_garbage_is_refused() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()

    async def main() -> None:
        server, url, _ = await _serve(silent)
        with pytest.raises(TimeoutError):
            await ShadowClient(url, timeout_s=0.3).post("/x", b"{}", {})
        server.close()
        server, url, _ = await _serve(garbage)
        with pytest.raises(ShadowReplyError):
            await ShadowClient(url, timeout_s=2).post("/x", b"{}", {})
        server.close()

    asyncio.run(main())


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="shadow url"):
        ShadowClient("ftp://shadow", timeout_s=1)
