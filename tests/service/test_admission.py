"""Admission rejections against a real server: answered at once, with Retry-After, readable by every client.

Small bodies are rejected inside the HTTP parser (api/uvicorn_seam.py) and keep
their connection; large ones take the ASGI path and are drained before the
connection closes. Both give the same answer.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.error
import urllib.request

import httpx
import pytest
import requests

from scripts.launcher import ServerProcess

pytestmark = pytest.mark.slow
REJECTION = {"error": "server is at its limit of 1 concurrent inference requests; retry later"}


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    """A server admitting one inference at a time, and a way to keep that one slot taken."""
    from tests.tiny_models import make_repository

    repo = make_repository(tmp_path_factory.mktemp("admission"))
    with ServerProcess(repo, {"ORTSERVE_MAX_INFLIGHT_REQUESTS": "1"}) as server:
        yield server


@contextlib.contextmanager
def slot_held(server):
    """Occupy the only admission slot until the block ends: a request whose headers are sent (so
    it is admitted) and whose body is held back, so the app is still reading it. Then it completes.
    Whatever the block reads was answered while the slot was taken: no clock is involved."""
    head, body = AFFINE_HEAD, AFFINE_BODY.encode()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.settimeout(30)
    sock.sendall(head + body[:5])
    # Held once another inference is refused: until then the server has not read these headers.
    for _ in range(200):
        if httpx.post(f"{server.url}/v2/models/affine/infer", content=body, timeout=10).status_code == 503:
            break
    else:
        raise AssertionError("the held request never took the slot")
    try:
        yield
    finally:
        with sock:
            sock.sendall(body[5:])
            assert read_answer(sock)[0].startswith(b"HTTP/1.1 200 ")


_UNREAD: dict[socket.socket, bytes] = {}  # bytes read past one answer, kept for the next


def read_answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP answer (head, body) from `sock`; what follows it stays for the next call."""
    data = _UNREAD.pop(sock, b"")
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, rest = data.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(rest) < length:
        rest += sock.recv(65536)
    _UNREAD[sock] = rest[length:]
    return head, rest[:length]


AFFINE_BODY = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})
AFFINE_HEAD = (f"POST /v2/models/affine/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(AFFINE_BODY)}\r\n\r\n").encode()


@pytest.mark.parametrize("split", [False, True], ids=["whole-request-in-one-read", "headers-then-body"])
def test_small_requests_are_rejected_at_once_and_keep_their_connection(busy, split):
    with slot_held(busy), socket.create_connection(("127.0.0.1", busy.port)) as sock:
        sock.settimeout(30)
        for _ in range(3):  # the same connection answers again: keep-alive held
            if split:  # the answer leaves at the end of the headers; the body is read and dropped
                sock.sendall(AFFINE_HEAD)
                time.sleep(0.02)
                sock.sendall(AFFINE_BODY.encode())
            else:
                sock.sendall(AFFINE_HEAD + AFFINE_BODY.encode())
            head, answer = read_answer(sock)  # answered while the slot is still held: not queued behind it
            assert head.startswith(b"HTTP/1.1 503 ")
            assert b"retry-after: 1" in head.lower()
            assert b"server: uvicorn" not in head.lower()  # answered in the protocol, not by the app
            assert json.loads(answer) == REJECTION
    with socket.create_connection(("127.0.0.1", busy.port)) as sock:
        sock.sendall(AFFINE_HEAD + AFFINE_BODY.encode())  # the slot is free: the same bytes are served
        head, answer = read_answer(sock)
        assert head.startswith(b"HTTP/1.1 200 "), head
        assert json.loads(answer)["outputs"][0]["name"] == "y"


def test_two_requests_in_one_read_are_answered_in_order(busy):
    """Pipelined bytes are not one small request: the parser takes them, and both are answered."""
    with slot_held(busy), socket.create_connection(("127.0.0.1", busy.port)) as sock:
        sock.sendall((AFFINE_HEAD + AFFINE_BODY.encode()) * 2)
        for _ in range(2):
            head, answer = read_answer(sock)
            assert head.startswith(b"HTTP/1.1 503 "), head
            assert json.loads(answer) == REJECTION


def test_slots_taken_in_the_parser_are_all_given_back(busy):
    """200 requests racing for one slot (most admitted in the HTTP protocol, the rest rejected
    there): afterwards the slot is free again, so no admitted request kept it."""
    socks = [socket.create_connection(("127.0.0.1", busy.port)) for _ in range(50)]
    try:
        statuses = []
        for _ in range(4):
            for sock in socks:
                sock.sendall(AFFINE_HEAD + AFFINE_BODY.encode())
            statuses += [read_answer(sock)[0].split()[1] for sock in socks]
        assert set(statuses) <= {b"200", b"503"} and b"200" in statuses
    finally:
        for sock in socks:
            sock.close()
    for _ in range(3):
        assert httpx.post(f"{busy.url}/v2/models/affine/infer", content=AFFINE_BODY, timeout=10).status_code == 200


def test_a_large_body_is_drained_so_urllib_and_requests_read_the_503(busy):
    big = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                                  "data": [0.0] * 4, "pad": "y" * 4_000_000}]}).encode()
    with slot_held(busy):
        request = urllib.request.Request(f"{busy.url}/v2/models/affine/infer", data=big, method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=30)
        assert err.value.code == 503 and err.value.headers["Retry-After"] == "1"
        assert json.loads(err.value.read()) == REJECTION
        answer = requests.post(f"{busy.url}/v2/models/affine/infer", data=big, timeout=30)
        assert answer.status_code == 503 and answer.json() == REJECTION


def test_a_client_gone_mid_body_gives_its_slot_back(busy):
    """Admitted at the end of its headers, then the client leaves before sending the body."""
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", busy.port)) as sock:
            sock.sendall(AFFINE_HEAD + AFFINE_BODY.encode()[:5])
            time.sleep(0.1)
    time.sleep(0.2)
    assert httpx.post(f"{busy.url}/v2/models/affine/infer", content=AFFINE_BODY, timeout=10).status_code == 200


def test_an_upgrade_request_takes_no_slot(busy):
    """uvicorn starts no app for an upgrade, so nothing would give a slot taken for it back."""
    upgrade = AFFINE_HEAD.replace(b"Host: x\r\n", b"Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                                  b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", busy.port)) as sock:
            sock.sendall(upgrade + AFFINE_BODY.encode())
            sock.settimeout(2)
            with contextlib.suppress(OSError):
                sock.recv(65536)
    assert httpx.post(f"{busy.url}/v2/models/affine/infer", content=AFFINE_BODY, timeout=10).status_code == 200
