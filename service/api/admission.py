"""Admission for HTTP, as one object: which requests it covers, whether it is full, and its 503.

The cap itself (core/admission.py) is shared with gRPC. HTTP takes a slot in one
of two places, and this object is all they share:

- **In the HTTP protocol** (api/uvicorn_seam.py), when a request's headers end: it
  holds a `Slot` until the response completes or the connection is lost, marks the
  scope with ADMITTED, and writes `rejection` itself when full.
- **At the ASGI edge** (`guard`), for every covered request the protocol did not
  admit (a pipelined one, or a server run without the seam): a slot around the app,
  or a 503 answered before the body is read.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ..core.admission import Admission
from .early_answer import answer_before_body
from .errors import error_body, retry_after
from .headers import JSON, SECURITY_HEADERS

# Scope key: the HTTP protocol holds this request's slot (api/uvicorn_seam.py).
ADMITTED = "ortserve.admitted"
COVERED_PREFIX = "/v2/models/"


class Slot:
    """One admitted request's place; release() gives it back once, whoever calls it first."""

    __slots__ = ("_admission",)

    def __init__(self, admission: Admission | None) -> None:
        self._admission = admission

    def release(self) -> None:
        if self._admission is not None:
            self._admission.leave()
            self._admission = None


class HttpAdmission:
    def __init__(self, counter: Admission) -> None:
        self.counter = counter
        overloaded = counter.error()
        self.body = error_body(overloaded.message)
        self.retry_after = retry_after(overloaded)
        head = [b"HTTP/1.1 503 Service Unavailable", JSON[0] + b": " + JSON[1],
                b"content-length: " + str(len(self.body)).encode()]
        head += [name + b": " + value for name, value in (*self.retry_after, *SECURITY_HEADERS)]
        # The whole answer, written by the protocol without any ASGI work.
        self.rejection = b"\r\n".join(head) + b"\r\n\r\n" + self.body

    @staticmethod
    def covers(method: str, path: str) -> bool:
        """The one test of "is this an inference request?": a POST under /v2/models/
        (infer, predict, attention). Health, metadata and metrics stay answerable."""
        return method == "POST" and path.startswith(COVERED_PREFIX)

    @property
    def full(self) -> bool:
        return self.counter.inflight >= self.counter.limit

    def take(self) -> Slot:
        """A slot for a request, after checking `full`."""
        self.counter.take()
        return Slot(self.counter)

    def reject(self) -> bytes:
        """Count one rejection; the bytes of the whole 503 answer."""
        self.counter.on_reject()
        return self.rejection

    async def guard(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, content_length: int | None) -> None:
        """Run `app` in a slot, or answer 503 before reading the body when there is none."""
        if not self.counter.try_enter():
            await answer_before_body(receive, send, content_length, 503, self.body, self.retry_after)
            return
        try:
            await app(scope, receive, send)
        finally:
            self.counter.leave()
