"""POST /v2/models/{m}[/versions/{v}]/infer as a pure-ASGI handler, ahead of FastAPI's router.

Under load, FastAPI's routing, dependency solving, Request/Response objects and
exception middleware cost about three times the CPU of the request's own work
(sampled with py-spy at c=64). This layer sits inside the request-context, CORS
and admission middleware, so ids, limits, security headers and CORS are the same
as for every other route, and answers `/infer` itself: read the body, check the
API key, then the same `answer_infer` call that FastAPI's documented route makes
(protocol/execute.py). Everything else falls through to FastAPI unchanged.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from ..core.auth import check_api_key, presented_token
from ..core.errors import ClientDisconnected, ServiceError, status_code_for
from ..core.repository import ModelRepository
from ..core.settings import Settings
from ..protocol.execute import answer_infer
from .disconnect import cancel_on_disconnect
from .middleware import error_body

log = logging.getLogger("service.api.app")

_PREFIX = "/v2/models/"
_SUFFIX = "/infer"
_HEADER = b"inference-header-content-length"
_JSON = (b"content-type", b"application/json")
_BINARY = (b"content-type", b"application/octet-stream")


def infer_target(path: str) -> tuple[str, str | None] | None:
    """(model, version or None) when `path` is an /infer route, as FastAPI's `{param}` matches it."""
    if not path.startswith(_PREFIX) or not path.endswith(_SUFFIX):
        return None
    parts = path[len(_PREFIX):-len(_SUFFIX)].split("/")
    if len(parts) == 1 and parts[0]:
        return parts[0], None
    if len(parts) == 3 and parts[1] == "versions" and parts[0] and parts[2]:
        return parts[0], parts[2]
    return None


def error_answer(exc: ServiceError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Status, `{"error": ...}` body and extra headers for a ServiceError, on every HTTP route."""
    status = status_code_for(exc)
    if status >= 500 and status not in (503, 504):
        log.error("request failed", extra={"error": exc.message})
    headers = [] if exc.retry_after is None else [(b"retry-after", str(max(1, round(exc.retry_after))).encode())]
    return status, error_body(exc.message), headers


def unexpected_answer(scope: Scope) -> bytes:
    """The 500 body for an exception nothing expected, on every HTTP route: the caller gets
    the request id, never a traceback or a path; the log (call this in `except`) has the details."""
    log.exception("unhandled error")
    rid = scope.get("state", {}).get("request_id", "")
    return error_body(f"internal server error (request id {rid})")


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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


class FastInfer:
    """Answers OIP `/infer` POSTs; passes every other request to `app` (FastAPI's router)."""

    def __init__(self, app: ASGIApp, repository: ModelRepository, settings: Settings) -> None:
        self.app = app
        self.repository = repository
        self.api_key = settings.api_key
        self.max_depth = settings.max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = infer_target(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if target is None:
            await self.app(scope, receive, send)
            return
        try:
            await self._infer(target, scope, receive, send)
        except ClientDisconnected:
            return  # nobody is left to read an answer
        except ServiceError as exc:
            status, body, headers = error_answer(exc)
            await _send(send, status, body, [_JSON, *headers])
        except Exception:
            await _send(send, 500, unexpected_answer(scope), [_JSON])

    async def _infer(self, target: tuple[str, str | None], scope: Scope, receive: Receive, send: Send) -> None:
        header_length = authorization = api_key = None
        for name, value in scope["headers"]:  # the first of repeated headers wins, as in Starlette
            if name == _HEADER and header_length is None:
                header_length = value.decode("latin-1")
            elif name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"x-api-key" and api_key is None:
                api_key = value.decode("latin-1")
        # The key is checked before the body is read, as FastAPI's dependency did.
        if self.api_key:
            check_api_key(presented_token(authorization, api_key), self.api_key)
        body = await read_body(receive)
        payload, json_length = await answer_infer(
            self.repository, target[0], target[1], body, header_length, max_depth=self.max_depth,
            guard=lambda work: cancel_on_disconnect(receive, work),
        )
        if json_length is None:
            await _send(send, 200, payload, [_JSON])
        else:
            await _send(send, 200, payload, [_BINARY, (_HEADER, str(json_length).encode())])
