"""Admission rejections answered inside uvicorn's HTTP protocol, before any ASGI work.

Under 5x overload, four of five requests are rejected, and on one core each
rejection's CPU comes out of the capacity left for admitted work. Through the
ASGI stack a rejection cost about 80 us of server CPU (scope, task, middleware,
two sends), which at 5x took ~40% of the goodput. Two cheaper ways, tried in order:

- **Whole request in one read** (the usual case: clients send a small request
  in one segment). `data_received` sees the raw bytes while the parser sits
  between messages; when admission is full and the bytes are exactly one small
  POST to /v2/models/, the canned 503 is written and the parser never sees them.
  No callbacks, no header list, no scope: it costs about half the parser path.
- **Headers first.** Otherwise, at the end of the headers, the same answer is
  written and the parser reads and discards the body as it arrives (the
  connection stays open, so a client still writing never sees a reset).

Either way the connection is kept alive for the next request. A request that is
admitted takes its slot here too, at the end of its headers, and AdmissionMiddleware
gives it back when the app is done (see `on_headers_complete`). Anything unusual
takes the ordinary path through AdmissionMiddleware, which gives the same answer:
a large or unsized body, Expect: 100-continue, HTTP/1.0 or Connection: close,
a pipelined request behind an unfinished one.
"""

from __future__ import annotations

from typing import Any

from .middleware import _SECURITY_HEADERS, ADMITTED, SMALL_BODY, AdmissionMiddleware

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools not installed: uvicorn uses h11 and the ASGI path
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

_PREFIX = b"POST /v2/models/"


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


def _header(head: bytes, name: bytes) -> bytes | None:
    """The value of header `name` (lower-cased, with its leading CRLF) in a lower-cased head."""
    at = head.find(name)
    if at < 0:
        return None
    end = head.find(b"\r\n", at + 2)
    return head[at + len(name) : end if end >= 0 else len(head)].strip()


def one_small_request(data: bytes) -> bool:
    """True when `data` is exactly one complete HTTP/1.1 POST to /v2/models/ with a small
    Content-Length body, nothing before or after it, and no header that needs the parser."""
    if not data.startswith(_PREFIX):
        return False
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = data[:end].lower()
    first = head.find(b"\r\n")
    if first < 0 or not head[:first].endswith(b" http/1.1"):
        return False
    if b"\r\nexpect:" in head or b"\r\ntransfer-encoding:" in head or b"\r\nupgrade:" in head:
        return False  # unusual enough for the parser
    connection = _header(head, b"\r\nconnection:")
    if connection is not None and (b"close" in connection or b"upgrade" in connection):
        return False
    length = _header(head, b"\r\ncontent-length:")
    if length is None or not length.isdigit() or int(length) > SMALL_BODY:
        return False
    return len(data) == end + 4 + int(length)


def protocol_for(app: Any) -> Any:
    """uvicorn's httptools protocol with the fast rejections, or "auto" when httptools is missing."""
    if HttpToolsProtocol is None:
        return "auto"

    built: list[AdmissionMiddleware] = []  # Starlette builds the stack once, on the first request

    def admission_stack() -> AdmissionMiddleware | None:
        if built:
            return built[0]
        admission = getattr(app, "middleware_stack", None)
        if not isinstance(admission, AdmissionMiddleware):
            return None
        built.append(admission)
        return admission

    def admission_if_full() -> AdmissionMiddleware | None:
        admission = admission_stack()
        return admission if admission is not None and admission.full else None

    def answer(admission: AdmissionMiddleware) -> bytes:
        if admission.rejection_bytes is None:
            admission.rejection_bytes = _response(admission)
        return admission.rejection_bytes

    class AdmittingProtocol(HttpToolsProtocol):
        _mid_message = False  # the parser holds part of a request
        _active_at = 0.0  # loop time of the last whole-request rejection

        def data_received(self, data: bytes) -> None:
            if (not self._mid_message and not self.pipeline
                    and (self.cycle is None or self.cycle.response_complete)
                    and (admission := admission_if_full()) is not None and one_small_request(data)):
                admission.on_reject()
                self.transport.write(answer(admission))
                self.server_state.total_requests += 1
                # Keep-alive: a timestamp rather than a cancelled and a new timer per answer
                # (a few us each, thousands of times a second); the armed timer reads it.
                self._active_at = self.loop.time()
                if self.timeout_keep_alive_task is None:
                    self.timeout_keep_alive_task = self.loop.call_later(
                        self.timeout_keep_alive, self.timeout_keep_alive_handler)
                return
            super().data_received(data)

        def timeout_keep_alive_handler(self) -> None:
            idle = self.loop.time() - self._active_at
            if idle < self.timeout_keep_alive and not self.transport.is_closing():
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive - idle, self.timeout_keep_alive_handler)
                return
            super().timeout_keep_alive_handler()

        def on_message_begin(self) -> None:
            self._mid_message = True
            super().on_message_begin()

        def on_message_complete(self) -> None:
            self._mid_message = False
            super().on_message_complete()

        def on_headers_complete(self) -> None:
            admission = admission_stack()
            if admission is not None and self._fast_rejectable():
                if admission.full:
                    admission.on_reject()
                    self.transport.write(answer(admission))
                    self.cycle = _Answered()  # type: ignore[assignment]
                    self.on_response_complete()  # re-arms keep-alive, as after any answer
                    return
                # Admitted here, not when the ASGI task first runs: one read can hold many
                # connections' requests, and deciding later let them all pass this check,
                # then turned most away through the ASGI stack at several times the cost.
                # The task starts now (not pipelined), and the middleware releases the slot.
                admission.admission.take()
                self.scope[ADMITTED] = True  # type: ignore[literal-required]
            super().on_headers_complete()

        def _fast_rejectable(self) -> bool:
            if self.parser.get_method() != b"POST" or not self.url.startswith(b"/v2/models/"):
                return False
            if self.expect_100_continue or self.parser.get_http_version() != "1.1":
                return False
            if not self.parser.should_keep_alive() or self.parser.should_upgrade() or self.pipeline:
                return False  # closing, upgrading (uvicorn starts no app) or queued behind another
            if self.cycle is not None and not self.cycle.response_complete:
                return False  # answers must leave in order
            length = next((v for k, v in self.headers if k == b"content-length"), None)
            return length is not None and length.isdigit() and int(length) <= SMALL_BODY

    return AdmittingProtocol
