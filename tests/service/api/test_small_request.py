"""Which raw reads the whole-request fast rejection may answer without the HTTP parser."""

from __future__ import annotations

import pytest

from service.api.early_answer import SMALL_BODY
from service.api.small_request import one_small_request

BODY = b'{"inputs": []}'


def request(*headers: str, body: bytes = BODY, line: str = "POST /v2/models/m/infer HTTP/1.1") -> bytes:
    head = "\r\n".join([line, "Host: x", *headers])
    return head.encode() + b"\r\n\r\n" + body


SMALL = request(f"Content-Length: {len(BODY)}")


def test_one_whole_small_post_qualifies():
    assert one_small_request(SMALL)
    assert one_small_request(request(f"content-length:{len(BODY)}", "Connection: keep-alive"))


@pytest.mark.parametrize("data, why", [
    (request(f"Content-Length: {len(BODY)}", line="GET /v2/models/m HTTP/1.1"), "not a POST"),
    (request(f"Content-Length: {len(BODY)}", line="POST /v2/health/ready HTTP/1.1"), "not under /v2/models/"),
    (request(f"Content-Length: {len(BODY)}", line="POST /v2/models/m/infer HTTP/1.0"), "HTTP/1.0 closes"),
    (request(), "no Content-Length"),
    (request("Content-Length: 1x"), "Content-Length not a number"),
    (request(f"Content-Length: {len(BODY) + 1}"), "body not complete yet"),
    (request(f"Content-Length: {len(BODY)}") + b"POST", "a pipelined request follows"),
    (request(f"Content-Length: {len(BODY)}", "Connection: close"), "the client wants the connection closed"),
    (request(f"Content-Length: {len(BODY)}", "Expect: 100-continue"), "waits for 100 Continue"),
    (request("Transfer-Encoding: chunked", body=b"0\r\n\r\n"), "chunked"),
    (request(f"Content-Length: {SMALL_BODY + 1}", body=b"x" * (SMALL_BODY + 1)), "large body"),
    (request(f"Content-Length: {len(BODY)}")[:30], "headers not complete"),
])
def test_anything_unusual_is_left_to_the_parser(data, why):
    assert not one_small_request(data), why
