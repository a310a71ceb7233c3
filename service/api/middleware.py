"""Pure-ASGI middleware: request ids, security headers, body-size limit, opt-in access logs.

Pure ASGI rather than BaseHTTPMiddleware, because the latter costs a task and a
stream copy per request on the hot path.

Early answers (413 for a declared oversized body, 503 from admission) are sent
before the body is read. Closing at once would reset the connection under a
client that is still writing (urllib, requests and tritonclient write the whole
body before they read): they would see BrokenPipeError or ConnectionResetError
instead of the answer. So the answer goes out first, then the body is read and
discarded, up to DRAIN_BYTES and DRAIN_SECONDS, and only then the connection closes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.admission import Admission
from ..core.errors import PayloadTooLarge
from ..core.logs import request_id

log = logging.getLogger("service.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
_STRICT_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
# The docs UI (assets bundled, see api/docs.py) may load this origin's scripts and styles and
# fetch /openapi.json; Swagger UI sets style attributes and draws icons from data: URLs.
_DOCS_CSP = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    b"connect-src 'self'; frame-ancestors 'none'",
)
_DOC_PATHS = ("/docs",)
# The playground (api/playground.py): its own scripts, styles and fetches only; it draws on canvases,
# sets styles through the CSSOM (never style attributes), and never submits a form.
_UI_CSP = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
)
_UI_PATHS = ("/ui",)
_RETRY_AFTER = [(b"retry-after", b"1")]
# Bounds on the body discarded after an early answer: past them the connection
# is closed anyway (a client sending more, or stalling, pays for it, not the server).
DRAIN_BYTES = 256 * 1024 * 1024
DRAIN_SECONDS = 10.0
# A body this small has usually arrived with its headers: draining it first costs nothing.
SMALL_BODY = 64 * 1024
# Scope key: the HTTP protocol already took this request's admission slot (fastpath.py).
ADMITTED = "ortserve.admitted"


_STRICT_TAIL = [*_SECURITY_HEADERS, _STRICT_CSP]
_DOCS_TAIL = [*_SECURITY_HEADERS, _DOCS_CSP]
_UI_TAIL = [*_SECURITY_HEADERS, _UI_CSP]


class RequestContextMiddleware:
    """Gives every request an id (the caller's X-Request-ID when it is sane), caps its body,
    and adds the id and the security headers to every answer.

    The per-request access line is opt-in (`access_log`), as in Triton and nginx:
    formatting and writing it cost about as much CPU as a small model's inference."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, access_log: bool = False) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log
        # A random per-process prefix and a counter: unique like uuid4, at a tenth of its cost.
        # Made here, not at import, so each worker process draws its own prefix.
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count(1)

    def new_id(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if incoming and _VALID_ID.match(incoming) else self.new_id()
        token = request_id.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter() if self.access_log else 0.0
        status = 500
        path = scope["path"]
        tail = [(b"x-request-id", rid.encode()), *(_DOCS_TAIL if path.startswith(_DOC_PATHS)
                                                    else _UI_TAIL if path.startswith(_UI_PATHS) else _STRICT_TAIL)]

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _too_large(scope, receive, send, rid, int(declared), self.max_body_bytes)
            request_id.reset(token)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # Raised inside the app, so the app's error handler answers 413.
                    raise PayloadTooLarge(
                        f"request body exceeds the limit of {self.max_body_bytes} bytes (received {received} so far)"
                    )
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *tail]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_wrapper)
        finally:
            if self.access_log:
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": path,
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    },
                )
            request_id.reset(token)


async def _too_large(scope: Scope, receive: Receive, send: Send, rid: str, received: int, limit: int) -> None:
    message = f"request body of {received} bytes exceeds the limit of {limit} bytes"
    await answer_before_body(scope, receive, send, 413, error_body(message), [(b"x-request-id", rid.encode())])


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})


async def answer_before_body(
    scope: Scope, receive: Receive, send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    """Answer a request whose body was not read, so that every client can read the answer.

    A small body (the usual rejected inference) is drained first and the
    connection stays open for the next request. A large or unsized one gets the
    answer at once (a client that reads early, like curl, has it), but the
    response is completed, and the connection closed, only after the body is
    drained: closing with unread data would reset the socket under the writer."""
    declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
    small = declared.isdigit() and int(declared) <= SMALL_BODY
    if small:
        await _drain(receive)
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            *([] if small else [(b"connection", b"close")]), *headers, *_SECURITY_HEADERS,
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


class AdmissionMiddleware:
    """Caps the inference requests handled at once; the excess gets 503 + Retry-After
    before its body is even read. Health, metadata and metrics stay answerable.

    It wraps the whole application, outside Starlette's own middleware and the
    request-context one: under overload most requests are rejections, and each
    one's CPU comes out of the server's capacity for the admitted ones (on one
    core, four rejections per admitted request at 5x). So a rejection is a
    pre-encoded answer: no request id, no access log line, no routing."""

    def __init__(
        self, app: ASGIApp, limit: int = 0, on_reject: Callable[[], None] = lambda: None,
        admission: Admission | None = None,
    ) -> None:
        self.app = app
        # The app passes the Admission it shares with the gRPC front door: one count, one cap.
        self.admission = admission or Admission(limit, on_reject)
        self.rejection_body = error_body(self.admission.message)
        self.rejection_bytes: bytes | None = None  # the whole HTTP answer, for fastpath.py

    @property
    def full(self) -> bool:
        return self.admission.inflight >= self.admission.limit

    def on_reject(self) -> None:
        self.admission.on_reject()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get(ADMITTED):  # the HTTP protocol took the slot (fastpath.py): always give it back
            try:
                await self.app(scope, receive, send)
            finally:
                self.admission.leave()
            return
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith("/v2/models/"):
            await self.app(scope, receive, send)
            return
        if not self.admission.try_enter():
            await answer_before_body(scope, receive, send, 503, self.rejection_body, _RETRY_AFTER)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.admission.leave()
