"""Tracing on the HTTP front door: `begin` for every route (/infer in api/infer_endpoint.py too),
`traced` for the routes behind FastAPI's stack (the friendly endpoints). The edge puts the
`traceresponse` header on their answers, errors included, and the trace id on the access log line."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import Request, Response
from starlette.types import Scope

from ..core.tracing import Tracing
from .request_headers import REQUEST, RequestHeaders

if TYPE_CHECKING:
    from ..core.tracing.spans import RequestTrace


def begin(tracing: Tracing, model: str, scope: Scope, attributes: dict[str, Any]) -> RequestTrace | None:
    """The HTTP request's trace when it is sampled (call only when `tracing.on`), continuing the
    caller's `traceparent`; its trace id goes to the scope's state for the access log line."""
    headers: RequestHeaders = scope.get(REQUEST) or RequestHeaders.read(scope["headers"])
    state = scope.setdefault("state", {})
    trace = tracing.begin(model, headers.traceparent, headers.tracestate,
                          {"rpc.system": "http", "ortserve.request_id": state.get("request_id") or "", **attributes})
    if trace is not None:
        state["trace_id"] = trace.trace_id_hex
    return trace


async def traced(tracing: Tracing, model: str, request: Request,
                 answer: Callable[[Any], Awaitable[Response]]) -> Response:
    """`answer(trace)`, with the request's trace when it is sampled (None otherwise)."""
    if not tracing.on:
        return await answer(None)
    scope = request.scope
    trace = begin(tracing, model, scope, {"url.path": scope["path"]})
    if trace is None:
        return await answer(None)
    scope["state"]["traceresponse"] = trace.header.encode()
    with trace.current():
        response = await answer(trace)
        trace.set("http.response.status_code", response.status_code)
        return response
