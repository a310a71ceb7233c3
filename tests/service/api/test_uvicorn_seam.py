"""The uvicorn seam (api/uvicorn_seam.py) driven over a fake transport: no sockets, no server.

Every path that takes an admission slot must give it back: a normal answer, an app that
raises, a client that leaves, and the requests the protocol leaves to the edge
(upgrades, pipelined requests) take none at all.
"""

from __future__ import annotations

import asyncio

import uvicorn
from uvicorn.server import ServerState

from service.api.admission import ADMITTED, HttpAdmission
from service.api.early_answer import SMALL_BODY
from service.api.seam_check import ProbeTransport
from service.api.uvicorn_seam import protocol_for
from service.core.admission import Admission

BODY = b'{"inputs": []}'


def request(*headers: str, body: bytes = BODY, line: str = "POST /v2/models/m/infer HTTP/1.1") -> bytes:
    head = "\r\n".join([line, "Host: x", *headers])
    return head.encode() + b"\r\n\r\n" + body


SMALL = request(f"Content-Length: {len(BODY)}")


class App:
    """Records what each request saw; answers 200 once `release` is set (unless told to fail)."""

    def __init__(self, admission: HttpAdmission, fail: bool = False) -> None:
        self.admission = admission
        self.fail = fail
        self.release = asyncio.Event()
        self.release.set()
        self.seen: list[tuple[str, bool, int]] = []

    async def __call__(self, scope, receive, send):
        self.seen.append((scope["path"], ADMITTED in scope, self.admission.counter.inflight))
        while (await receive()).get("more_body"):
            pass
        await self.release.wait()
        if self.fail:
            raise RuntimeError("the app failed")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


def connect(limit: int = 4, fail: bool = False, keep_alive: float = 5.0):
    admission = HttpAdmission(Admission(limit))
    app = App(admission, fail)
    config = uvicorn.Config(app, http=protocol_for(admission), log_config=None, timeout_keep_alive=keep_alive)
    config.load()
    protocol = config.http_protocol_class(config, ServerState(), {}, _loop=asyncio.get_running_loop())
    transport = ProbeTransport()
    protocol.connection_made(transport)
    return protocol, transport, admission, app


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_an_admitted_request_holds_a_slot_until_its_response_completes():
    protocol, transport, admission, app = connect()
    app.release.clear()
    protocol.data_received(SMALL)
    await settle()
    assert app.seen == [("/v2/models/m/infer", True, 1)] and admission.counter.inflight == 1
    app.release.set()
    await settle()
    assert transport.written.startswith(b"HTTP/1.1 200 OK") and admission.counter.inflight == 0
    protocol.data_received(SMALL)  # the next request on the same connection takes a fresh slot
    await settle()
    assert app.seen[-1] == ("/v2/models/m/infer", True, 1) and admission.counter.inflight == 0
    protocol.connection_lost(None)


async def test_an_app_that_raises_gives_its_slot_back():
    protocol, transport, admission, _ = connect(fail=True)
    protocol.data_received(SMALL)
    await settle()
    assert b"500 Internal Server Error" in transport.written and admission.counter.inflight == 0
    protocol.connection_lost(None)


async def test_a_client_that_leaves_gives_its_slot_back_at_once():
    protocol, _, admission, app = connect()
    app.release.clear()
    protocol.data_received(SMALL)
    await settle()
    assert admission.counter.inflight == 1
    protocol.connection_lost(None)  # the app is still waiting: the slot is free already
    assert admission.counter.inflight == 0
    app.release.set()
    await settle()
    assert admission.counter.inflight == 0


async def test_an_upgrade_request_takes_no_slot_in_the_protocol():
    protocol, _, admission, app = connect()
    protocol.data_received(request(f"Content-Length: {len(BODY)}", "Connection: Upgrade", "Upgrade: h2c"))
    await settle()
    assert app.seen == [("/v2/models/m/infer", False, 0)] and admission.counter.inflight == 0
    protocol.connection_lost(None)


async def test_a_pipelined_request_is_left_to_the_edge_and_all_slots_come_back():
    protocol, transport, admission, app = connect()
    app.release.clear()
    protocol.data_received(SMALL + SMALL)
    await settle()
    assert app.seen == [("/v2/models/m/infer", True, 1)]
    app.release.set()
    await settle()
    assert app.seen[1] == ("/v2/models/m/infer", False, 0)  # queued behind the first: no protocol slot
    assert transport.written.count(b"HTTP/1.1 200 OK") == 2 and admission.counter.inflight == 0
    protocol.connection_lost(None)


async def test_when_full_a_whole_small_request_is_answered_before_the_parser():
    protocol, transport, admission, app = connect(limit=0)
    protocol.data_received(SMALL)
    assert bytes(transport.written) == admission.rejection and protocol.server_state.total_requests == 1
    assert app.seen == [] and not transport.is_closing()
    protocol.connection_lost(None)


async def test_when_full_a_split_request_is_answered_at_the_end_of_its_headers():
    protocol, transport, admission, app = connect(limit=0)
    head, body = SMALL.split(b"\r\n\r\n")
    protocol.data_received(head + b"\r\n\r\n")
    assert bytes(transport.written) == admission.rejection
    protocol.data_received(body)  # read and dropped: the answer is out already
    await settle()
    assert bytes(transport.written) == admission.rejection and app.seen == []
    protocol.data_received(SMALL)  # the connection serves the next request
    assert bytes(transport.written) == admission.rejection * 2
    protocol.connection_lost(None)


async def test_when_full_a_large_body_is_left_to_the_edge():
    protocol, transport, _, app = connect(limit=0)
    big = b"x" * (SMALL_BODY + 1)
    protocol.data_received(request(f"Content-Length: {len(big)}", body=big))
    await settle()
    assert not transport.written.startswith(b"HTTP/1.1 503") and app.seen == [("/v2/models/m/infer", False, 0)]
    protocol.connection_lost(None)


async def test_an_idle_connection_still_closes_after_fast_rejections():
    protocol, transport, _, _ = connect(limit=0, keep_alive=0.05)
    for _ in range(5):
        protocol.data_received(SMALL)
        await asyncio.sleep(0.02)  # each rejection counts as activity: the timer does not fire yet
    assert not transport.is_closing()
    await asyncio.sleep(0.15)
    assert transport.is_closing()
    protocol.connection_lost(None)


async def test_requests_admission_does_not_cover_pass_through_untouched():
    protocol, transport, _admission, app = connect(limit=0)
    protocol.data_received(request(f"Content-Length: {len(BODY)}", line="POST /v2/repository/index HTTP/1.1"))
    await settle()
    assert app.seen == [("/v2/repository/index", False, 0)] and transport.written.startswith(b"HTTP/1.1 200 OK")
    protocol.connection_lost(None)


class DirectApp(App):
    """Answers through the protocol's InFlight, as the /infer endpoint does."""

    async def __call__(self, scope, receive, send):
        in_flight = scope[ADMITTED]
        while (await receive()).get("more_body"):
            pass
        in_flight.watch(asyncio.current_task())
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.seen.append(("cancelled", in_flight.disconnected, self.admission.counter.inflight))
            raise
        self.seen.append(("answered", in_flight.answer(200, b"content-type: text/plain\r\n", b"ok"), 0))
        self.seen.append(("again", in_flight.answer(200, b"", b"no"), 0))  # a response goes out once


def connect_direct(**kwargs):
    protocol, transport, admission, _app = connect(**kwargs)
    direct = DirectApp(admission)
    protocol.app = direct
    return protocol, transport, admission, direct


async def test_an_admitted_request_is_answered_in_one_write():
    protocol, transport, admission, app = connect_direct()
    protocol.server_state.default_headers = [(b"date", b"Thu, 03 Dec 2026 12:00:00 GMT")]  # a running server's
    protocol.data_received(SMALL)
    await settle()
    assert app.seen == [("answered", True, 0), ("again", False, 0)]
    head, body = bytes(transport.written).split(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK" and body == b"ok" and transport.writes == 1
    assert b"content-type: text/plain" in lines and b"content-length: 2" in lines
    assert b"date: Thu, 03 Dec 2026 12:00:00 GMT" in lines  # uvicorn's default headers come along
    assert admission.counter.inflight == 0 and not transport.is_closing()
    protocol.data_received(SMALL)  # keep-alive: the connection serves the next request
    await settle()
    assert transport.writes == 2 and admission.counter.inflight == 0
    protocol.connection_lost(None)


async def test_a_request_asking_to_close_gets_connection_close_and_a_closed_transport():
    protocol, transport, _, app = connect_direct()
    protocol.data_received(request(f"Content-Length: {len(BODY)}", "Connection: close"))
    await settle()
    assert app.seen[0] == ("answered", True, 0)
    assert b"\r\nconnection: close\r\n" in transport.written and transport.is_closing()


async def test_a_lost_connection_cancels_the_watched_task_and_frees_the_slot():
    protocol, _, admission, app = connect_direct()
    app.release.clear()
    protocol.data_received(SMALL)
    await settle()
    assert admission.counter.inflight == 1
    protocol.connection_lost(None)
    await settle()
    assert app.seen == [("cancelled", True, 0)]


async def test_a_task_watched_after_the_connection_is_gone_is_cancelled_at_once():
    protocol, _, _, _ = connect()
    protocol.data_received(request(f"Content-Length: {len(BODY) + 5}"))  # headers, part of the body
    in_flight = protocol.scope[ADMITTED]
    protocol.connection_lost(None)
    task = asyncio.ensure_future(asyncio.sleep(3600))
    in_flight.watch(task)
    await settle()
    assert task.cancelled() and in_flight.disconnected
