"""The outermost ASGI layer: every HTTP request's headers are read here, once.

It gives each request an id (the caller's X-Request-ID when it is sane), applies
the body limit and admission (api/admission.py) before the body is read, and hands
`POST .../infer` straight to the pure-ASGI endpoint (api/infer_endpoint.py), which
adds the id and the security headers to its own answers: no send or receive
wrapper, no routing table. Everything else goes to FastAPI's stack, and the edge
adds those headers to its answers.

Pure ASGI rather than BaseHTTPMiddleware, because the latter costs a task and a
stream copy per request on the hot path. The per-request access line is opt-in,
as in Triton and nginx: formatting and writing it cost about as much CPU as a
small model's inference.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.errors import PayloadTooLarge
from ..core.logs import request_id
from .admission import ADMITTED, HttpAdmission
from .early_answer import answer_before_body
from .errors import error_body
from .headers import security_tail
from .infer_endpoint import InferEndpoint, infer_target
from .request_headers import REQUEST, RequestHeaders

log = logging.getLogger("service.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class Edge:
    """`general` answers everything but /infer (FastAPI's stack, CORS included when configured);
    `infer` answers /infer directly, unless CORS is configured (then `general` reaches it too)."""

    def __init__(
        self, general: ASGIApp, infer: InferEndpoint | None, admission: HttpAdmission, *,
        max_body_bytes: int, access_log: bool = False,
    ) -> None:
        self.general = general
        self.infer = infer
        self.admission = admission
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
            await self.general(scope, receive, send)
            return
        headers = RequestHeaders.read(scope["headers"])
        scope[REQUEST] = headers
        incoming = headers.request_id
        rid = incoming if incoming and _VALID_ID.match(incoming) else self.new_id()
        token = request_id.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter() if self.access_log else 0.0
        status = 500
        try:
            length = headers.content_length
            if length is not None and length > self.max_body_bytes:
                message = f"request body of {length} bytes exceeds the limit of {self.max_body_bytes} bytes"
                await answer_before_body(receive, send, length, 413, error_body(message), [(b"x-request-id", rid.encode())])
                status = 413
            elif ADMITTED in scope or not self.admission.covers(scope["method"], scope["path"]):
                status = await self._serve(scope, receive, send, rid)
            else:  # an inference request the HTTP protocol did not admit: admission here
                status = 503

                async def admitted(scope: Scope, receive: Receive, send: Send) -> None:
                    nonlocal status
                    status = await self._serve(scope, receive, send, rid)

                await self.admission.guard(admitted, scope, receive, send, length)
        finally:
            if self.access_log:
                extra = {
                    "method": scope["method"], "path": scope["path"], "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                }
                traced = scope["state"].get("trace_id")  # set by a front door that traced the request
                if traced:
                    extra["trace_id"] = traced
                log.info("request", extra=extra)
            request_id.reset(token)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, rid: str) -> int:
        """Answer an admitted request; its status. /infer adds the id and security headers itself."""
        if scope[REQUEST].content_length is None:
            receive = self._limited(receive)  # no declared length (chunked): count what arrives
        if self.infer is not None:
            target = infer_target(scope["method"], scope["path"])
            if target is not None:
                return await self.infer.answer(target, scope, receive, send)
        status = 500
        tail = [(b"x-request-id", rid.encode()), *security_tail(scope["path"])]

        async def send_with_tail(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *tail]
                traced = scope["state"].get("traceresponse")  # a traced request (api/tracing_http.py)
                if traced:
                    message["headers"].append((b"traceresponse", traced))
            await send(message)

        await self.general(scope, receive, send_with_tail)
        return status

    def _limited(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the app, so the app's error handler answers 413.
                    raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes (received {received} so far)")
            return message

        return limited_receive
