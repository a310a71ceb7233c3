"""The FastAPI application: wiring, lifespan (load, warm up, drain) and error mapping."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..core.admission import Admission
from ..core.errors import ServiceError
from ..core.metrics import Metrics
from ..core.repository import ModelRepository
from ..core.settings import Settings, get_settings
from . import attention, docs, encoding, explore, extensions, health, infer, playground, predict, repository
from .fast_infer import FastInfer, error_answer, unexpected_answer
from .middleware import AdmissionMiddleware, RequestContextMiddleware

log = logging.getLogger(__name__)

DESCRIPTION = """
Serves every ONNX model in a Triton-style model repository with idle-aware dynamic
batching, over the Open Inference Protocol (KServe v2, binary tensor extension included).
Errors are always `{"error": "..."}` with a 4xx/5xx status; 503 carries `Retry-After`.
"""


def _error(status: int, message: str, retry_after: float | None = None) -> JSONResponse:
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        status, body, headers = error_answer(exc)
        return Response(body, status, {k.decode(): v.decode() for k, v in headers}, "application/json")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"] if p != "body") or "body"
            got = err.get("input")
            problems.append(f"{field}: {err['msg']} (got {got!r:.80})")
        return _error(422, "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route for {request.method} {request.url.path}"
        return _error(exc.status_code, message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        return Response(unexpected_answer(request.scope), status_code=500, media_type="application/json")


class _App(FastAPI):
    """FastAPI with admission control as the very first layer (see AdmissionMiddleware)."""

    def build_middleware_stack(self):  # type: ignore[no-untyped-def]
        stack = super().build_middleware_stack()
        return AdmissionMiddleware(stack, admission=self.state.admission)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = Metrics()
    repo = ModelRepository(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await repo.load_all()
        # Move everything built at startup (FastAPI, pydantic, ORT sessions) out of
        # the collector's reach: full collections over it caused 50+ ms pauses, which
        # showed as p99 = 5x p50 under load (measured with scripts.bench).
        gc.collect()
        gc.freeze()
        log.info("startup complete", extra={"ready": repo.ready(), "models": repo.index()})
        yield
        # uvicorn has already stopped accepting and finished in-flight requests;
        # drain whatever is still queued (e.g. work whose client went away).
        await repo.close()
        log.info("shutdown complete")

    app = _App(
        title="ortserve",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # /docs is served from bundled assets by docs.py; FastAPI's pages load them from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.repository = repo
    # Shared with the gRPC front door (service/grpc/server.py): one in-flight cap for both.
    app.state.admission = Admission(settings.max_inflight_requests, metrics.rejected.labels("inflight_limit").inc)
    _install_error_handlers(app)
    # extensions first: its /v2/models/stats must win over /v2/models/{model_name}.
    for module in (extensions, health, infer, repository, predict, encoding, attention, explore):
        app.include_router(module.router)
    docs.install(app)
    playground.install(app)
    # Added first = innermost: /infer skips FastAPI's routing but keeps every layer above.
    app.add_middleware(FastInfer, repository=repo, settings=settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
            allow_headers=["*"], expose_headers=["X-Request-ID", "Inference-Header-Content-Length"],
        )
    # Added last = outermost (inside admission, see _App): every admitted response gets an id and headers.
    app.add_middleware(
        RequestContextMiddleware, max_body_bytes=settings.max_body_bytes, access_log=settings.access_log
    )
    return app

