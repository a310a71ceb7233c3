"""Answers sent before the body is read: small bodies drained first, large ones after the answer."""

from __future__ import annotations

from service.api.early_answer import SMALL_BODY, answer_before_body, is_small


def recorder(chunks: list[dict]):
    events: list = []

    async def receive():
        message = chunks.pop(0)
        events.append(("received", len(message["body"])))
        return message

    async def send(message):
        events.append((message["type"], message.get("status"), message.get("more_body", False)))

    return events, receive, send


async def test_a_large_body_gets_the_answer_first_and_completion_after_the_drain():
    chunks = [{"type": "http.request", "body": b"x" * 20_000, "more_body": i < 4} for i in range(5)]
    events, receive, send = recorder(chunks)
    await answer_before_body(receive, send, 100_000, 413, b'{"error": "x"}', [])
    assert events == [
        ("http.response.start", 413, False),
        ("http.response.body", None, True),  # the whole answer, before the body is read
        *[("received", 20_000)] * 5,  # then the body is read and discarded
        ("http.response.body", None, False),  # and only then the response completes (and closes)
    ]


async def test_a_small_body_is_drained_first_and_the_connection_kept():
    events, receive, send = recorder([{"type": "http.request", "body": b"{}", "more_body": False}])
    sent: list[dict] = []

    async def keep(message):
        sent.append(message)
        await send(message)

    await answer_before_body(receive, keep, 2, 503, b"{}", [(b"retry-after", b"1")])
    assert events == [("received", 2), ("http.response.start", 503, False), ("http.response.body", None, False)]
    headers = dict(sent[0]["headers"])
    assert b"connection" not in headers and headers[b"retry-after"] == b"1"
    assert headers[b"x-content-type-options"] == b"nosniff"


async def test_a_client_gone_mid_body_ends_the_drain():
    events, receive, send = recorder([{"type": "http.disconnect", "body": b""}])
    await answer_before_body(receive, send, 10, 503, b"{}", [])
    assert events[0] == ("received", 0) and events[-1] == ("http.response.body", None, False)


def test_only_a_declared_small_length_is_small():
    assert is_small(0) and is_small(SMALL_BODY)
    assert not is_small(SMALL_BODY + 1) and not is_small(None)
