"""Answering a request before its body is read (413 for a declared oversized body, 503 from admission).

Closing at once would reset the connection under a client that is still writing
(urllib, requests and tritonclient write the whole body before they read): they
would see BrokenPipeError or ConnectionResetError instead of the answer. So the
answer goes out first, then the body is read and discarded, up to DRAIN_BYTES and
DRAIN_SECONDS, and only then the connection closes.
"""

from __future__ import annotations

import asyncio

from starlette.types import Receive, Send

from .headers import JSON, SECURITY_HEADERS, Header

# Bounds on the body discarded after an early answer: past them the connection
# is closed anyway (a client sending more, or stalling, pays for it, not the server).
DRAIN_BYTES = 256 * 1024 * 1024
DRAIN_SECONDS = 10.0
# A body this small has usually arrived with its headers: draining it first costs nothing.
SMALL_BODY = 64 * 1024


def is_small(content_length: int | None) -> bool:
    return content_length is not None and content_length <= SMALL_BODY


async def answer_before_body(
    receive: Receive, send: Send, content_length: int | None, status: int, body: bytes, headers: list[Header]
) -> None:
    """Answer a request whose body was not read, so that every client can read the answer.

    A small body (the usual rejected inference) is drained first and the connection
    stays open for the next request. A large or unsized one gets the answer at once
    (a client that reads early, like curl, has it), but the response is completed,
    and the connection closed, only after the body is drained: closing with unread
    data would reset the socket under the writer."""
    small = is_small(content_length)
    if small:
        await _drain(receive)
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            JSON, (b"content-length", str(len(body)).encode()),
            *([] if small else [(b"connection", b"close")]), *headers, *SECURITY_HEADERS,
        ],
    })
    await send({"type": "http.response.body", "body": body, "more_body": not small})
    if not small:
        await _drain(receive)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _drain(receive: Receive) -> None:
    try:
        await asyncio.wait_for(_discard_body(receive, DRAIN_BYTES), DRAIN_SECONDS)
    except TimeoutError:
        pass


async def _discard_body(receive: Receive, limit: int) -> None:
    discarded = 0
    while discarded <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away
        discarded += len(message.get("body", b""))
        if not message.get("more_body", False):
            return
