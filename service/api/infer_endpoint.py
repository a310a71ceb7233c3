"""POST /v2/models/{m}[/versions/{v}]/infer answered as pure ASGI, without FastAPI's router.

Under load, FastAPI's routing, dependency solving, Request/Response objects and
exception middleware cost about three times the CPU of the request's own work
(sampled with py-spy at c=64). The edge (api/edge.py) has already read the headers,
applied limits and admission and made the request id; this reads the body, checks
the API key, and makes the same `answer_infer` call as FastAPI's documented route
(api/infer_openapi.py, which the OpenAPI document lists).
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ..core.auth import check_api_key
from ..core.errors import ClientDisconnected, ServiceError
from ..core.repository import ModelRepository
from ..core.settings import Settings
from ..core.shared_memory import SharedMemoryRegistry
from ..protocol.execute import answer_infer
from .admission import ADMITTED
from .disconnect import cancel_on_disconnect
from .errors import error_answer, unexpected_answer
from .headers import BINARY, JSON, STRICT_TAIL, STRICT_TAIL_RAW, Header, encode
from .request_headers import HEADER_LENGTH, REQUEST, RequestHeaders
from .tracing_http import begin as begin_trace
from .uvicorn_seam import InFlight

_PREFIX = "/v2/models/"
_SUFFIX = "/infer"


def infer_target(method: str, path: str) -> tuple[str, str | None] | None:
    """(model, version or None) when this is an /infer POST, matched as FastAPI's `{param}` matches it."""
    if method != "POST" or not path.startswith(_PREFIX) or not path.endswith(_SUFFIX):
        return None
    parts = path[len(_PREFIX):-len(_SUFFIX)].split("/")
    if len(parts) == 1 and parts[0]:
        return parts[0], None
    if len(parts) == 3 and parts[1] == "versions" and parts[0] and parts[2]:
        return parts[0], parts[2]
    return None


async def read_body(receive: Receive) -> bytes:
    """The whole body; a single chunk is returned as is, without a copy."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnected()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class InferEndpoint:
    """Answers OIP `/infer` POSTs. As an ASGI app (behind CORS) it passes anything else to `fallback`."""

    def __init__(
        self, fallback: ASGIApp | None, repository: ModelRepository, settings: Settings,
        regions: SharedMemoryRegistry | None = None,
    ) -> None:
        self.repository = repository
        self.regions = regions
        self.api_key = settings.api_key
        self.tracing = repository.tracing
        self.max_depth = settings.max_json_depth
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = infer_target(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if target is None:
            assert self.fallback is not None, "InferEndpoint mounted as an app needs a fallback"
            await self.fallback(scope, receive, send)
            return
        await self.answer(target, scope, receive, send, tail=False)

    async def answer(
        self, target: tuple[str, str | None], scope: Scope, receive: Receive, send: Send, *, tail: bool = True
    ) -> int:
        """Answer one /infer request; with `tail`, the answer carries the request id and the
        security headers itself (the edge adds them otherwise). Returns the status."""
        if not self.tracing.on:  # the one check an untraced request pays
            return await self._answer(target, scope, receive, send, tail, None)
        trace = begin_trace(self.tracing, target[0], scope, {})
        if trace is None:
            return await self._answer(target, scope, receive, send, tail, None)
        with trace.current():
            status = await self._answer(target, scope, receive, send, tail, trace)
            trace.set("http.response.status_code", status)
            return status

    async def _answer(self, target: tuple[str, str | None], scope: Scope, receive: Receive, send: Send,
                      tail: bool, trace: Any) -> int:
        in_flight: InFlight | None = scope.get(ADMITTED)
        try:
            headers: RequestHeaders = scope.get(REQUEST) or RequestHeaders.read(scope["headers"])
            # The key is checked before the body is read, as FastAPI's dependency did.
            if self.api_key:
                check_api_key(headers.token, self.api_key)
            body = await read_body(receive)
            if in_flight is None:  # no protocol to tell us of a disconnect: a watcher does
                payload, json_length = await answer_infer(
                    self.repository, target[0], target[1], body, headers.header_length, max_depth=self.max_depth,
                    guard=partial(cancel_on_disconnect, receive), trace=trace, regions=self.regions)
            else:
                payload, json_length = await self._watched(in_flight, target, body, headers.header_length, trace)
        except ClientDisconnected:
            if trace is not None:
                trace.fail("the client disconnected")
            return 499  # nobody is left to read an answer
        except ServiceError as exc:
            status, error, extra = error_answer(exc)
            if trace is not None:
                trace.fail(exc.message)
            await self._send(scope, in_flight, send, status, error, [JSON, *extra], tail, trace)
            return status
        except Exception:
            if trace is not None:
                trace.fail("internal server error")
            await self._send(scope, in_flight, send, 500, unexpected_answer(scope), [JSON], tail, trace)
            return 500
        if json_length is None:
            await self._send(scope, in_flight, send, 200, payload, [JSON], tail, trace)
        else:
            await self._send(scope, in_flight, send, 200, payload, [BINARY, (HEADER_LENGTH, b"%d" % json_length)],
                             tail, trace)
        return 200

    async def _watched(
        self, in_flight: InFlight, target: tuple[str, str | None], body: bytes, header_length: str | None,
        trace: Any,
    ) -> tuple[bytes, int | None]:
        """The work, cancelled by the HTTP protocol itself if the connection is lost."""
        task = asyncio.current_task()
        in_flight.watch(task)
        try:
            return await answer_infer(self.repository, target[0], target[1], body, header_length,
                                      max_depth=self.max_depth, trace=trace, regions=self.regions)
        except asyncio.CancelledError:
            if not in_flight.disconnected:
                raise  # cancelled from outside (shutdown): not ours to swallow
            assert task is not None
            task.uncancel()
            raise ClientDisconnected() from None
        finally:
            in_flight.watch(None)

    @staticmethod
    async def _send(scope: Scope, in_flight: InFlight | None, send: Send, status: int, body: bytes,
                    headers: list[Header], tail: bool, trace: Any = None) -> None:
        rid = scope.get("state", {}).get("request_id", "").encode()
        if trace is not None:  # W3C traceresponse: the trace id a caller can look the request up by
            headers.append((b"traceresponse", trace.header.encode()))
        if in_flight is not None and tail:
            head = encode(headers) + b"x-request-id: " + rid + b"\r\n" + STRICT_TAIL_RAW
            if in_flight.answer(status, head, body):
                return  # written in one piece, past uvicorn's per-header checks
        if tail:
            headers += [(b"x-request-id", rid), *STRICT_TAIL]
        headers.append((b"content-length", b"%d" % len(body)))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
