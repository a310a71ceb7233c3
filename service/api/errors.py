"""Every HTTP error answer is built here: the `{"error": ...}` body, the status, Retry-After.

The status comes from the one table of the error hierarchy (core/errors.py
STATUS_CODES); the pure-ASGI routes and FastAPI's handlers below both answer
through `error_answer`, so a ServiceError reads the same on every route.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from ..core.errors import ServiceError, retry_after_seconds, status_code_for
from .headers import JSON, Header

log = logging.getLogger("service.api")


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})


def retry_after(exc: ServiceError) -> list[Header]:
    value = retry_after_seconds(exc)
    return [] if value is None else [(b"retry-after", value.encode())]


def error_answer(exc: ServiceError) -> tuple[int, bytes, list[Header]]:
    """Status, body and extra headers (Retry-After) for a ServiceError; server faults are logged."""
    status = status_code_for(exc)
    if status >= 500 and status not in (503, 504):
        log.error("request failed", extra={"error": exc.message, "model": exc.model, "version": exc.version})
    return status, error_body(exc.message), retry_after(exc)


def unexpected_answer(scope: Scope) -> bytes:
    """The 500 body for an exception nothing expected: the caller gets the request id, never a
    traceback or a path; the log (call this inside `except`) has the details."""
    log.exception("unhandled error")
    rid = scope.get("state", {}).get("request_id", "")
    return error_body(f"internal server error (request id {rid})")


def _response(status: int, body: bytes, headers: list[Header] | None = None) -> Response:
    return Response(body, status, {k.decode(): v.decode() for k, v in headers or ()}, JSON[1].decode())


def install_handlers(app: FastAPI) -> None:
    """FastAPI's routes answer their errors with the same words and shapes as the ASGI ones."""

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        return _response(*error_answer(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"] if p != "body") or "body"
            got = err.get("input")
            problems.append(f"{field}: {err['msg']} (got {got!r:.80})")
        return _response(422, error_body("; ".join(problems)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route for {request.method} {request.url.path}"
        return _response(exc.status_code, error_body(message))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        return _response(500, unexpected_answer(request.scope))
