"""Tracing for the HTTP routes behind FastAPI's stack (the friendly endpoints): the same one check,
the same request span as /infer (api/infer_endpoint.py). The edge puts the `traceresponse` header
on the answer, errors included, and the trace id on the access log line."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response

from ..core.tracing import Tracing
from .request_headers import REQUEST, RequestHeaders


async def traced(tracing: Tracing, model: str, request: Request,
                 answer: Callable[[Any], Awaitable[Response]]) -> Response:
    """`answer(trace)`, with the request's trace when it is sampled (None otherwise)."""
    if not tracing.on:
        return await answer(None)
    scope = request.scope
    headers: RequestHeaders = scope.get(REQUEST) or RequestHeaders.read(scope["headers"])
    state = scope.setdefault("state", {})
    trace = tracing.begin(model, headers.traceparent, headers.tracestate,
                          {"rpc.system": "http", "ortserve.request_id": state.get("request_id") or "",
                           "url.path": scope["path"]})
    if trace is None:
        return await answer(None)
    state["trace_id"] = trace.trace_id_hex
    state["traceresponse"] = trace.header.encode()
    with trace.current():
        response = await answer(trace)
        trace.set("http.response.status_code", response.status_code)
        return response
