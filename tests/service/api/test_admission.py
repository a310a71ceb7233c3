"""HTTP admission as one object: what it covers, when it is full, its canned 503, its ASGI guard."""

from __future__ import annotations

import asyncio

import pytest

from service.api.admission import HttpAdmission, Slot
from service.core.admission import Admission


@pytest.mark.parametrize("method, path, covered", [
    ("POST", "/v2/models/m/infer", True),
    ("POST", "/v2/models/m/versions/2/predict", True),
    ("POST", "/v2/models/m/attention", True),
    ("GET", "/v2/models/m", False),
    ("POST", "/v2/repository/models/m/load", False),
    ("GET", "/v2/health/ready", False),
])
def test_one_test_decides_what_admission_covers(method, path, covered):
    assert HttpAdmission.covers(method, path) is covered


def test_the_canned_answer_is_a_whole_http_503_with_retry_after_and_security_headers():
    admission = HttpAdmission(Admission(3))
    head, body = admission.rejection.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 503 Service Unavailable"
    headers = dict(line.split(b": ", 1) for line in lines[1:])
    assert headers[b"retry-after"] == b"1" and headers[b"content-type"] == b"application/json"
    assert int(headers[b"content-length"]) == len(body) and headers[b"x-frame-options"] == b"DENY"
    assert body == b'{"error":"server is at its limit of 3 concurrent inference requests; retry later"}'


def test_slots_are_counted_and_given_back_once():
    rejected = []
    admission = HttpAdmission(Admission(2, lambda: rejected.append(1)))
    first, second = admission.take(), admission.take()
    assert admission.full and admission.counter.inflight == 2
    assert admission.reject() == admission.rejection and rejected == [1]
    first.release()
    first.release()  # a second release (response complete, then connection lost) changes nothing
    assert admission.counter.inflight == 1 and not admission.full
    second.release()
    assert admission.counter.inflight == 0
    Slot(None).release()


async def test_the_guard_rejects_early_and_releases_on_every_path():
    rejected = []
    admission = HttpAdmission(Admission(1, lambda: rejected.append(1)))
    release = asyncio.Event()
    sent: list[dict] = []

    async def slow_app(scope, receive, send):
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def failing_app(scope, receive, send):
        raise RuntimeError("boom")

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/v2/models/m/infer", "headers": []}
    first = asyncio.ensure_future(admission.guard(slow_app, scope, receive, send, 2))
    await asyncio.sleep(0)
    await admission.guard(slow_app, scope, receive, send, 2)  # over the limit: answered at once
    assert sent[0]["status"] == 503 and (b"retry-after", b"1") in sent[0]["headers"]
    assert b"limit of 1 concurrent inference requests" in sent[1]["body"]
    assert rejected == [1]
    release.set()
    await first
    assert admission.counter.inflight == 0
    with pytest.raises(RuntimeError):
        await admission.guard(failing_app, scope, receive, send, 2)
    assert admission.counter.inflight == 0  # an app that raises gives its slot back too
