"""The lean HTTP/1.1 connection: framing, keep-alive, and every failure as an outcome name."""

from __future__ import annotations

import asyncio
import re
import socket

import pytest

from scripts.loadtest.payloads import RequestSpec
from scripts.loadtest.transport import ClientPool
from scripts.loadtest.wire import BadResponse, RawConnection, parse_head, request_bytes

JSON_SPEC = RequestSpec("/v2/models/digits/infer", b'{"inputs": [{"shape": [3]}]}')


def test_request_bytes_carry_path_host_length_headers_and_body():
    spec = RequestSpec("/v2/models/m/infer", b"abc", headers={"Inference-Header-Content-Length": "2"})
    raw = request_bytes(spec, "127.0.0.1:8000", "/prefix")
    head, body = raw.split(b"\r\n\r\n", 1)
    assert head.split(b"\r\n") == [
        b"POST /prefix/v2/models/m/infer HTTP/1.1", b"Host: 127.0.0.1:8000", b"Content-Length: 3",
        b"Inference-Header-Content-Length: 2",
    ]
    assert body == b"abc"


def test_parse_head_reads_status_and_lowercases_headers():
    status, headers = parse_head(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0")
    assert status == 503
    assert headers == {"retry-after": "1", "content-length": "0"}


@pytest.mark.parametrize("head, why", [
    (b"SMTP 220 hello", "bad status line"),
    (b"HTTP/1.1 abc OK", "bad status line"),
    (b"HTTP/1.1 200 OK\r\nno colon here", "bad header line"),
])
def test_parse_head_rejects_what_is_not_http(head, why):
    with pytest.raises(BadResponse, match=why):
        parse_head(head)


def test_only_plain_http_urls_are_accepted():
    with pytest.raises(ValueError, match="plain http://host:port, got 'https://127.0.0.1:1'"):
        RawConnection("https://127.0.0.1:1", 1.0)


async def test_keep_alive_holds_over_many_requests_to_a_real_server(fake_server):
    conn = RawConnection(fake_server.url, 5.0)
    outcomes = [await conn.send(JSON_SPEC) for _ in range(25)]
    await conn.aclose()
    assert outcomes == ["200"] * 25
    assert conn.opened == 1
    assert fake_server.state.success["digits"] == 25


async def test_statuses_other_than_200_are_reported_as_such(fake_server):
    fake_server.state.fail_every = 2
    conn = RawConnection(fake_server.url, 5.0)
    outcomes = [await conn.send(JSON_SPEC) for _ in range(4)]
    bad = await conn.send(RequestSpec("/v2/models/digits/infer", b"{}"))
    await conn.aclose()
    assert outcomes == ["200", "503", "200", "503"]
    assert bad == "400"
    assert conn.opened == 1  # error answers keep the connection too


async def test_a_timeout_drops_the_connection_and_the_next_request_reopens_it(fake_server):
    fake_server.state.delay_s = 0.5
    conn = RawConnection(fake_server.url, 0.1)
    assert await conn.send(JSON_SPEC) == "timeout"
    fake_server.state.delay_s = 0.0
    conn.timeout_s = 5.0
    # Had the connection been kept, this would read the late answer of the first request.
    assert await conn.send(JSON_SPEC) == "200"
    await conn.aclose()
    assert conn.opened == 2


async def test_nothing_listening_is_a_connect_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        conn = RawConnection(f"http://127.0.0.1:{port}", 2.0)
        assert await conn.send(JSON_SPEC) == "connect_error"


async def scripted_server(answers: list[bytes]):
    """A socket server that answers each request with the next scripted bytes. It closes
    the connection after an answer that says so, after a non-HTTP one, and after the last."""
    script = list(answers)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while script:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            await reader.readexactly(int(re.search(rb"Content-Length: (\d+)", head).group(1)))
            answer = script.pop(0)
            writer.write(answer)
            await writer.drain()
            if b"Connection: close" in answer or not answer.startswith(b"HTTP/1.1"):
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_chunked_bodies_and_connection_close_are_followed():
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n")
    closing = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    plain = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
    server, url = await scripted_server([chunked, chunked, closing, plain])
    async with server:
        conn = RawConnection(url, 5.0)
        outcomes = [await conn.send(JSON_SPEC) for _ in range(4)]
        await conn.aclose()
    assert outcomes == ["200", "200", "200", "429"]
    assert conn.opened == 2  # the server said close after the third answer


@pytest.mark.parametrize("answer", [
    b"garbage that is not http\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",  # closed mid-body
    b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n",  # no framing at all
])
async def test_broken_answers_are_connection_closed_outcomes(answer):
    server, url = await scripted_server([answer])
    async with server:
        conn = RawConnection(url, 5.0)
        outcome = await conn.send(JSON_SPEC)
        await conn.aclose()
    assert outcome == "connection_closed"


async def test_pool_counts_reopened_connections(fake_server):
    fake_server.state.delay_s = 0.3
    async with ClientPool.open(fake_server.url, 2, 0.05) as pool:
        assert await asyncio.gather(pool.send(JSON_SPEC), pool.send(JSON_SPEC)) == ["timeout", "timeout"]
        fake_server.state.delay_s = 0.0
        for connection in pool._connections:
            connection.timeout_s = 5.0
        assert await asyncio.gather(*(pool.send(JSON_SPEC) for _ in range(4))) == ["200"] * 4
        assert pool.reconnects == 2


def test_unknown_transport_is_refused():
    with pytest.raises(ValueError, match="transport must be one of"):
        ClientPool.open("http://127.0.0.1:1", 1, 1.0, transport="carrier-pigeon")



async def test_a_connection_the_server_closed_while_idle_is_reopened_not_failed():
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    state = {"connections": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state["connections"] += 1
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(int(re.search(rb"Content-Length: (\d+)", head).group(1)))
        writer.write(ok)
        await writer.drain()
        writer.close()  # an idle keep-alive timeout: no "Connection: close" announced

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        conn = RawConnection(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", 5.0)
        first = await conn.send(JSON_SPEC)
        await asyncio.sleep(0.05)  # the FIN arrives while the connection is idle
        second = await conn.send(JSON_SPEC)
        await conn.aclose()
    assert [first, second] == ["200", "200"]
    assert state["connections"] == 2 and conn.reconnects == 1
