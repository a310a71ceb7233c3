"""Admission rejections against a real server: answered at once, with Retry-After, readable by every client.

Small bodies are rejected inside the HTTP parser (api/fastpath.py) and keep
their connection; large ones take the ASGI path and are drained before the
connection closes. Both give the same answer.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import httpx
import numpy as np
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


def hold_slot(server, seconds: float = 1.0) -> list[threading.Thread]:
    """Occupy the only admission slot with slow requests (a long sequence) for `seconds`;
    two senders, so the slot is retaken at once whenever one finishes."""
    frames = np.ones((1, 2000, 3), np.float32)
    body = {"inputs": [
        {"name": "frames", "shape": list(frames.shape), "datatype": "FP32", "data": frames.ravel().tolist()},
        {"name": "lengths", "shape": [1], "datatype": "INT64", "data": [2000]},
    ]}

    def run() -> None:
        stop = time.monotonic() + seconds
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while time.monotonic() < stop:
                client.post("/v2/models/sequence/infer", json=body)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    return threads


def read_answer(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, rest = data.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(rest) < length:
        rest += sock.recv(65536)
    return head, rest


def test_small_requests_are_rejected_at_once_and_keep_their_connection(busy):
    holder = hold_slot(busy)
    body = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})
    request = (f"POST /v2/models/affine/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n{body}").encode()
    try:
        with socket.create_connection(("127.0.0.1", busy.port)) as sock:
            for _ in range(3):  # the same connection answers again: keep-alive held
                started = time.monotonic()
                sock.sendall(request)
                head, answer = read_answer(sock)
                assert time.monotonic() - started < 0.25
                assert head.startswith(b"HTTP/1.1 503 ")
                assert b"retry-after: 1" in head.lower()
                assert b"server: uvicorn" not in head.lower()  # answered in the parser, not by the app
                assert json.loads(answer) == REJECTION
    finally:
        for thread in holder:
            thread.join()


def test_a_large_body_is_drained_so_urllib_and_requests_read_the_503(busy):
    holder = hold_slot(busy, seconds=3.0)
    big = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                                  "data": [0.0] * 4, "pad": "y" * 4_000_000}]}).encode()
    try:
        request = urllib.request.Request(f"{busy.url}/v2/models/affine/infer", data=big, method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=30)
        assert err.value.code == 503 and err.value.headers["Retry-After"] == "1"
        assert json.loads(err.value.read()) == REJECTION
        answer = requests.post(f"{busy.url}/v2/models/affine/infer", data=big, timeout=30)
        assert answer.status_code == 503 and answer.json() == REJECTION
    finally:
        for thread in holder:
            thread.join()
