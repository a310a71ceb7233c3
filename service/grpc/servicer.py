"""`inference.GRPCInferenceService`: each RPC decodes, calls the same core as HTTP, encodes.

Errors are the core's ServiceError classes, turned into gRPC status codes (see
status.py) with the HTTP answer's message; Retry-After travels as trailing metadata.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

import grpc
from google.protobuf import json_format

from ..core.admission import Admission
from ..core.auth import check_admin, check_api_key, presented_token
from ..core.errors import (
    ConfigError,
    DeadlineExceeded,
    InvalidInput,
    ModelUnavailable,
    NotFound,
    ServiceError,
)
from ..core.repository import ModelRepository, State
from ..core.settings import Settings
from ..core.shared_memory import SharedMemoryRegistry
from ..core.statistics import Statistics
from ..protocol import extensions, metadata
from ..protocol.execute import run_inference
from . import trace_setting
from ._generated import grpc_service_pb2 as pb
from ._generated import grpc_service_pb2_grpc as pb_grpc
from .codec import decode_request, encode_response
from .status import grpc_code_for, trailing_metadata

log = logging.getLogger(__name__)
# grpc.aio.ServicerContext is generic only in the stubs, hence the string (never evaluated).
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Request = TypeVar("Request")
Response = TypeVar("Response")
Servicer = TypeVar("Servicer", bound="InferenceServicer")  # the RPC modules' subclasses too


def _reports_errors(
    method: Callable[[Servicer, Request, Context], Awaitable[Response]],
) -> Callable[[Servicer, Request, Context], Awaitable[Response]]:
    """Turn a ServiceError into the matching gRPC status, and hide anything unexpected."""

    @functools.wraps(method)
    async def wrapper(self: Servicer, request: Request, context: Context) -> Response:
        try:
            return await method(self, request, context)
        except ServiceError as exc:
            code = grpc_code_for(exc)
            if code is grpc.StatusCode.INTERNAL:  # as HTTP logs its 500s
                log.error("request failed", extra={"error": exc.message, "method": method.__name__})
            context.set_trailing_metadata(trailing_metadata(exc))
            await context.abort(code, exc.message)
        except grpc.aio.AbortError:
            raise
        except Exception:
            log.exception("unhandled gRPC error", extra={"method": method.__name__})
            await context.abort(grpc.StatusCode.INTERNAL, "internal server error")

    return wrapper


def _token(context: Context) -> str | None:
    meta = dict(context.invocation_metadata() or ())
    return presented_token(_text(meta.get("authorization")), _text(meta.get("x-api-key")))


def _text(value: str | bytes | None) -> str | None:
    # gRPC hands bytes only for "-bin" keys, never for these two: the narrowing is for the types.
    return value if isinstance(value, str) else None


def _version(value: str) -> str | None:
    return value or None  # proto3 strings are "" when unset: the latest version


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """Method names are the proto's RPC names (CamelCase), as grpcio requires."""

    def __init__(
        self, repo: ModelRepository, settings: Settings, statistics: Statistics, admission: Admission,
        regions: SharedMemoryRegistry | None = None,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.statistics = statistics
        self.admission = admission
        self.regions = regions

    # -- health and metadata --------------------------------------------------

    async def ServerLive(self, request: pb.ServerLiveRequest, context: Context) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: pb.ServerReadyRequest, context: Context) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.repo.ready())

    @_reports_errors
    async def ModelReady(self, request: pb.ModelReadyRequest, context: Context) -> pb.ModelReadyResponse:
        try:
            self.repo.get(request.name, _version(request.version))
        except (ModelUnavailable, NotFound):
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=True)

    async def ServerMetadata(self, request: pb.ServerMetadataRequest, context: Context) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(**metadata.server_metadata(self.settings.system_shared_memory))

    @_reports_errors
    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context: Context) -> pb.ModelMetadataResponse:
        doc = metadata.model_metadata(self.repo, request.name, _version(request.version))
        return pb.ModelMetadataResponse(
            name=doc["name"], versions=doc["versions"], platform=doc["platform"],
            inputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in doc["inputs"]],
            outputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in doc["outputs"]],
        )

    # -- inference --------------------------------------------------------------

    @_reports_errors
    async def ModelInfer(self, request: pb.ModelInferRequest, context: Context) -> pb.ModelInferResponse:
        if self.repo.tracing.on:  # the one check an untraced call pays
            return await self._traced(request, context)
        return await self._infer(request, context, None)

    async def _traced(self, request: pb.ModelInferRequest, context: Context) -> pb.ModelInferResponse:
        trace = trace_setting.begin(self.repo.tracing, request.model_name, context.invocation_metadata())
        if trace is None:
            return await self._infer(request, context, None)
        # Initial metadata, so a failed call carries the trace id too (errors set the trailing one).
        await context.send_initial_metadata((("traceresponse", trace.header),))
        with trace.current():
            return await self._infer(request, context, trace)

    async def _infer(self, request: pb.ModelInferRequest, context: Context, trace: Any) -> pb.ModelInferResponse:
        check_api_key(_token(context), self.settings.api_key)
        # The HTTP front door's in-flight cap, shared: one count for both protocols.
        if not self.admission.try_enter():
            raise self.admission.error()
        try:
            remaining = context.time_remaining()  # the client's deadline is the request's deadline
            if remaining is not None and remaining <= 0:  # already passed: never queued, not a client input error
                raise DeadlineExceeded("the call's deadline passed before it was queued", model=request.model_name)
            wire = decode_request(request, remaining, self.regions)
            wire.request.trace = trace
            # A cancelled call cancels this coroutine, and with it the queued request.
            answer = await run_inference(self.repo, wire.request)
        finally:
            self.admission.leave()
        if trace is None:
            return encode_response(wire, answer.model_version, answer.outputs, answer.datatypes)
        encoding = time.monotonic()
        response = encode_response(wire, answer.model_version, answer.outputs, answer.datatypes)
        trace.encoded(encoding, answer.model_version)
        return response

    # -- extensions: configuration, statistics, repository -------------------------

    @_reports_errors
    async def ModelConfig(self, request: pb.ModelConfigRequest, context: Context) -> pb.ModelConfigResponse:
        doc = extensions.model_config_document(self.repo, request.name, _version(request.version))
        return pb.ModelConfigResponse(config=json_format.ParseDict(doc, pb.ModelConfig()))

    @_reports_errors
    async def ModelStatistics(self, request: pb.ModelStatisticsRequest, context: Context) -> pb.ModelStatisticsResponse:
        check_api_key(_token(context), self.settings.api_key)
        doc = extensions.statistics_document(
            self.repo, self.statistics, request.name or None, _version(request.version)
        )
        return json_format.ParseDict(doc, pb.ModelStatisticsResponse(), ignore_unknown_fields=True)

    @_reports_errors
    async def RepositoryIndex(self, request: pb.RepositoryIndexRequest, context: Context) -> pb.RepositoryIndexResponse:
        check_api_key(_token(context), self.settings.api_key)
        rows = self.repo.index()
        if request.ready:
            rows = [r for r in rows if r["state"] == State.READY.value]
        return pb.RepositoryIndexResponse(models=[
            pb.RepositoryIndexResponse.ModelIndex(
                name=r["name"], version=r.get("version") or "", state=r["state"], reason=r.get("reason") or ""
            )
            for r in rows
        ])

    @_reports_errors
    async def RepositoryModelLoad(self, request: pb.RepositoryModelLoadRequest, context: Context) -> pb.RepositoryModelLoadResponse:
        check_admin(_token(context), self.settings.admin_token)
        name = request.model_name
        try:
            entry = await self.repo.load(name)
        except ConfigError as exc:
            raise InvalidInput(f"failed to load {name!r}: {exc.message}") from None
        if entry.state is not State.READY:
            raise InvalidInput(f"failed to load {name!r}: {entry.reason}")
        return pb.RepositoryModelLoadResponse()

    @_reports_errors
    async def TraceSetting(self, request: pb.TraceSettingRequest, context: Context) -> pb.TraceSettingResponse:
        """Triton's trace extension: settings in the request change them (admin), none reads them."""
        model = request.model_name or None
        if request.settings:
            check_admin(_token(context), self.settings.admin_token)
        else:
            check_api_key(_token(context), self.settings.api_key)
        if model is not None:
            self.repo.entry(model)  # an unknown model is NOT_FOUND
        tracing = self.repo.tracing
        changes = trace_setting.changes(request)
        return trace_setting.response(tracing.update(changes, model) if changes else tracing.document(model))

    @_reports_errors
    async def RepositoryModelUnload(self, request: pb.RepositoryModelUnloadRequest, context: Context) -> pb.RepositoryModelUnloadResponse:
        check_admin(_token(context), self.settings.admin_token)
        await self.repo.unload(request.model_name)
        return pb.RepositoryModelUnloadResponse()
