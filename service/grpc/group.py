"""gRPC under `--workers N`: the RPCs that must give one server's view, whichever worker answers.

Every worker serves gRPC on the shared port (SO_REUSEPORT), so a change made over
gRPC (load, unload, shared-memory regions, trace settings) is applied here, then repeated on every
peer over its private socket before the call returns, exactly as the HTTP gateway
does; ModelStatistics sums every worker's numbers as `/v2/models/stats` does.
With one process (`group` None) these are the plain RPCs.
"""

from __future__ import annotations

from urllib.parse import quote

import orjson
from google.protobuf import json_format

from ..core.admission import Admission
from ..core.auth import check_api_key
from ..core.errors import Forbidden, InvalidInput, ModelUnavailable, NotFound, ServiceError, Unauthorized
from ..core.repository import ModelRepository
from ..core.settings import Settings
from ..core.shared_memory import SharedMemoryRegistry
from ..core.statistics import Statistics
from ..protocol import extensions
from ..workers.group import Group
from ..workers.peers import Answer, merge_statistics
from . import trace_setting
from ._generated import grpc_service_pb2 as pb
from .servicer import Context, InferenceServicer, _reports_errors, _token

# A peer's HTTP refusal, as the error class that gives the same status over gRPC.
_BY_STATUS: dict[int, type[ServiceError]] = {
    400: InvalidInput, 401: Unauthorized, 403: Forbidden, 404: NotFound, 503: ModelUnavailable,
}


def peer_error(answer: Answer) -> ServiceError:
    try:
        message = str(orjson.loads(answer.body)["error"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message = answer.body.decode(errors="replace")
    return _BY_STATUS.get(answer.status, ServiceError)(message)


def auth_headers(context: Context) -> list[tuple[bytes, bytes]]:
    """The caller's credentials, for the same checks on every peer."""
    found = []
    for key, value in context.invocation_metadata() or ():
        if key in ("authorization", "x-api-key") and isinstance(value, str):
            found.append((key.encode(), value.encode()))
    return found


def statistics_path(name: str | None, version: str | None) -> str:
    if name is None:
        return "/v2/models/stats"
    return f"/v2/models/{name}/stats" if version is None else f"/v2/models/{name}/versions/{version}/stats"


class GroupServicer(InferenceServicer):
    def __init__(
        self, repo: ModelRepository, settings: Settings, statistics: Statistics, admission: Admission,
        regions: SharedMemoryRegistry | None = None, group: Group | None = None,
    ) -> None:
        super().__init__(repo, settings, statistics, admission, regions)
        self.group = group

    async def fan_out(self, context: Context, path: str, body: bytes = b"") -> None:
        """Repeat a change this worker made on every peer (`path`: the HTTP route that makes it)."""
        if self.group is None:
            return
        refused = await self.group.broadcast("POST", quote(path), path, auth_headers(context), body)
        if refused is not None:
            raise peer_error(refused)

    @_reports_errors
    async def RepositoryModelLoad(
        self, request: pb.RepositoryModelLoadRequest, context: Context
    ) -> pb.RepositoryModelLoadResponse:
        response = await super().RepositoryModelLoad(request, context)
        await self.fan_out(context, f"/v2/repository/models/{request.model_name}/load")
        return response

    @_reports_errors
    async def RepositoryModelUnload(
        self, request: pb.RepositoryModelUnloadRequest, context: Context
    ) -> pb.RepositoryModelUnloadResponse:
        response = await super().RepositoryModelUnload(request, context)
        await self.fan_out(context, f"/v2/repository/models/{request.model_name}/unload")
        return response

    @_reports_errors
    async def TraceSetting(self, request: pb.TraceSettingRequest, context: Context) -> pb.TraceSettingResponse:
        response = await super().TraceSetting(request, context)
        changes = trace_setting.changes(request)
        if changes:  # a change, as the HTTP route takes it; a read stays this worker's
            path = f"/v2/models/{request.model_name}/trace/setting" if request.model_name else "/v2/trace/setting"
            await self.fan_out(context, path, orjson.dumps(changes))
        return response

    @_reports_errors
    async def ModelStatistics(self, request: pb.ModelStatisticsRequest, context: Context) -> pb.ModelStatisticsResponse:
        if self.group is None:
            return await super().ModelStatistics(request, context)
        check_api_key(_token(context), self.settings.api_key)
        name, version = request.name or None, request.version or None
        documents = [extensions.statistics_document(self.repo, self.statistics, name, version)]
        documents += await self.group.statistics(statistics_path(name, version), auth_headers(context))
        return json_format.ParseDict(merge_statistics(documents), pb.ModelStatisticsResponse(), ignore_unknown_fields=True)
