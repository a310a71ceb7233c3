"""Triton's shared-memory RPCs: SystemSharedMemory{Status,Register,Unregister}, and CUDA's, refused.

The same registry as HTTP's /v2/systemsharedmemory (core/shared_memory.py), behind
the API key; under `--workers N` a register or unregister reaches every worker
(group.py). CUDA shared memory answers UNIMPLEMENTED with a sentence saying so, except an
unregister, which has nothing to do and succeeds.
"""

from __future__ import annotations

import orjson

from ..core.auth import check_api_key
from ..core.errors import Forbidden, NotSupported
from ..core.shared_memory import CUDA_UNSUPPORTED, DISABLED, SharedMemoryRegistry
from ._generated import grpc_service_pb2 as pb
from .group import GroupServicer
from .servicer import Context, _reports_errors, _token

_PATH = "/v2/systemsharedmemory"


class SharedMemoryServicer(GroupServicer):
    def _registry(self, context: Context) -> SharedMemoryRegistry:
        check_api_key(_token(context), self.settings.api_key)
        if self.regions is None:
            raise Forbidden(DISABLED)
        return self.regions

    @_reports_errors
    async def SystemSharedMemoryStatus(
        self, request: pb.SystemSharedMemoryStatusRequest, context: Context
    ) -> pb.SystemSharedMemoryStatusResponse:
        response = pb.SystemSharedMemoryStatusResponse()
        for row in self._registry(context).status(request.name or None):
            response.regions[row["name"]].CopyFrom(pb.SystemSharedMemoryStatusResponse.RegionStatus(**row))
        return response

    @_reports_errors
    async def SystemSharedMemoryRegister(
        self, request: pb.SystemSharedMemoryRegisterRequest, context: Context
    ) -> pb.SystemSharedMemoryRegisterResponse:
        self._registry(context).register(request.name, request.key, request.offset, request.byte_size)
        body = orjson.dumps({"key": request.key, "offset": request.offset, "byte_size": request.byte_size})
        await self.fan_out(context, f"{_PATH}/region/{request.name}/register", body)
        return pb.SystemSharedMemoryRegisterResponse()

    @_reports_errors
    async def SystemSharedMemoryUnregister(
        self, request: pb.SystemSharedMemoryUnregisterRequest, context: Context
    ) -> pb.SystemSharedMemoryUnregisterResponse:
        name = request.name or None  # "" unregisters every region, as in Triton
        self._registry(context).unregister(name)
        await self.fan_out(context, f"{_PATH}/unregister" if name is None else f"{_PATH}/region/{name}/unregister")
        return pb.SystemSharedMemoryUnregisterResponse()

    @_reports_errors
    async def CudaSharedMemoryStatus(
        self, request: pb.CudaSharedMemoryStatusRequest, context: Context
    ) -> pb.CudaSharedMemoryStatusResponse:
        raise NotSupported(CUDA_UNSUPPORTED)

    @_reports_errors
    async def CudaSharedMemoryRegister(
        self, request: pb.CudaSharedMemoryRegisterRequest, context: Context
    ) -> pb.CudaSharedMemoryRegisterResponse:
        raise NotSupported(CUDA_UNSUPPORTED)

    @_reports_errors
    async def CudaSharedMemoryUnregister(
        self, request: pb.CudaSharedMemoryUnregisterRequest, context: Context
    ) -> pb.CudaSharedMemoryUnregisterResponse:
        # Nothing can be registered, so nothing to unregister: perf_analyzer unregisters both kinds.
        check_api_key(_token(context), self.settings.api_key)
        return pb.CudaSharedMemoryUnregisterResponse()
