"""The FastAPI application: wiring, lifespan (load, warm up, drain), and the edge in front of it."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..core.admission import Admission
from ..core.metrics import Metrics
from ..core.repository import ModelRepository
from ..core.settings import Settings, get_settings
from ..core.shared_memory import SharedMemoryRegistry
from . import attention, docs, encoding, explore, extensions, health, infer_openapi, playground, predict, repository
from .admission import HttpAdmission
from .edge import Edge
from .errors import install_handlers
from .infer_endpoint import InferEndpoint
from .shared_memory import router as shared_memory_router
from .trace_setting import router as trace_setting_router

log = logging.getLogger(__name__)

DESCRIPTION = """
Serves every ONNX model in a Triton-style model repository with idle-aware dynamic
batching, over the Open Inference Protocol (KServe v2, binary tensor extension included).
Errors are always `{"error": "..."}` with a 4xx/5xx status; 503 carries `Retry-After`.
"""


class OrtserveApp(FastAPI):
    """FastAPI whose whole stack sits behind the edge (api/edge.py): headers read once,
    admission and limits first, /infer answered before FastAPI's own layers."""

    def build_middleware_stack(self) -> ASGIApp:
        return _Entry(self, Edge(
            super().build_middleware_stack(), self.state.edge_infer, self.state.http_admission,
            max_body_bytes=self.state.settings.max_body_bytes, access_log=self.state.settings.access_log,
        ))

    @property
    def entry(self) -> ASGIApp:
        """The ASGI callable the server runs: the edge, without FastAPI's and Starlette's __call__."""
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        return self.middleware_stack


class _Entry:
    """Sets scope["app"] as Starlette's __call__ would (requests, routing and lifespan read it)."""

    def __init__(self, app: FastAPI, edge: Edge) -> None:
        self.app = app
        self.edge = edge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self.app
        await self.edge(scope, receive, send)


def create_app(settings: Settings | None = None) -> OrtserveApp:
    settings = settings or get_settings()
    metrics = Metrics()
    repo = ModelRepository(settings, metrics)
    regions = SharedMemoryRegistry(settings.system_shared_memory)

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
        regions.close()
        log.info("shutdown complete")

    app = OrtserveApp(
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
    app.state.shared_memory = regions
    # Shared with the gRPC front door (service/grpc/server.py): one in-flight cap for both.
    app.state.admission = Admission(settings.max_inflight_requests, metrics.rejected.labels("inflight_limit").inc)
    app.state.http_admission = HttpAdmission(app.state.admission)
    install_handlers(app)
    # extensions first: its /v2/models/stats must win over /v2/models/{model_name}.
    for module in (extensions, health, infer_openapi, repository, predict, encoding, attention, explore):
        app.include_router(module.router)
    app.include_router(trace_setting_router)
    app.include_router(shared_memory_router)
    docs.install(app)
    playground.install(app)
    if settings.cors_origins:
        # CORS must wrap /infer too, so the endpoint sits inside it, ahead of the router.
        app.add_middleware(InferEndpoint, repository=repo, settings=settings, regions=regions)
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
            allow_headers=["*"], expose_headers=["X-Request-ID", "Inference-Header-Content-Length"],
        )
        app.state.edge_infer = None
    else:
        app.state.edge_infer = InferEndpoint(None, repo, settings, regions)
    return app
