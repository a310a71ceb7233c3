"""Admission rejections answered inside uvicorn's HTTP parser, before any ASGI work.

Under 5x overload, four of five requests are rejected, and on one core each
rejection's CPU comes out of the capacity left for admitted work. Through the
ASGI stack a rejection cost about 80 us of server CPU (scope, task, middleware,
two sends), which at 5x took ~40% of the goodput. Here, when the admission limit
is full, a small inference POST is answered from its headers with pre-encoded
bytes; its body is then read and discarded by the parser as it arrives (the
connection stays open, so a client still writing never sees a reset), and the
connection is kept alive for the next request.

Anything unusual takes the ordinary path through AdmissionMiddleware, which
gives the same answer: a large or unsized body, Expect: 100-continue, HTTP/1.0
or Connection: close, a pipelined request behind an unfinished one.
"""

from __future__ import annotations

from typing import Any

from .middleware import _SECURITY_HEADERS, SMALL_BODY, AdmissionMiddleware

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools not installed: uvicorn uses h11 and the ASGI path
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


class _Answered:
    """Stands in for uvicorn's request cycle once the fast path has answered:
    the parser then drops the body (`response_complete`), and a disconnect has nothing to wake."""

    response_complete = True

    class message_event:
        @staticmethod
        def set() -> None:
            pass


def _response(admission: AdmissionMiddleware) -> bytes:
    body = admission.rejection_body
    head = [b"HTTP/1.1 503 Service Unavailable", b"content-type: application/json",
            b"content-length: " + str(len(body)).encode(), b"retry-after: 1"]
    head += [name + b": " + value for name, value in _SECURITY_HEADERS]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def protocol_for(app: Any) -> Any:
    """uvicorn's httptools protocol with the fast rejection, or "auto" when httptools is missing."""
    if HttpToolsProtocol is None:
        return "auto"

    class AdmittingProtocol(HttpToolsProtocol):
        def on_headers_complete(self) -> None:
            admission = getattr(app, "middleware_stack", None)
            if isinstance(admission, AdmissionMiddleware) and admission.full and self._fast_rejectable():
                admission.on_reject()
                self.transport.write(admission.rejection_bytes or _cached(admission))
                self.cycle = _Answered()  # type: ignore[assignment]
                self.on_response_complete()  # re-arms keep-alive, as after any answer
                return
            super().on_headers_complete()

        def _fast_rejectable(self) -> bool:
            if self.parser.get_method() != b"POST" or not self.url.startswith(b"/v2/models/"):
                return False
            if self.expect_100_continue or self.parser.get_http_version() != "1.1":
                return False
            if not self.parser.should_keep_alive() or self.pipeline:
                return False
            if self.cycle is not None and not self.cycle.response_complete:
                return False  # answers must leave in order
            length = next((v for k, v in self.headers if k == b"content-length"), None)
            return length is not None and length.isdigit() and int(length) <= SMALL_BODY

    def _cached(admission: AdmissionMiddleware) -> bytes:
        admission.rejection_bytes = _response(admission)
        return admission.rejection_bytes

    return AdmittingProtocol
