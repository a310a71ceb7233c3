"""Triton's shared-memory extensions over HTTP: /v2/systemsharedmemory/... and /v2/cudasharedmemory/...

System shared memory is served when ORTSERVE_SYSTEM_SHARED_MEMORY is on (403 otherwise),
behind the API key like inference; CUDA shared memory answers 400 saying it is not supported
(no CUDA IPC here), except an unregister, which has nothing to do and succeeds.
Under `--workers N` the gateway (service/workers/gateway.py) repeats a register or
unregister on every worker, so any worker can answer the requests that use the region.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request

from ..core.errors import Forbidden, InvalidInput, NotSupported
from ..core.shared_memory import CUDA_UNSUPPORTED, DISABLED, SharedMemoryRegistry
from .deps import ApiKey

router = APIRouter(tags=["shared memory (Triton extensions)"], dependencies=[ApiKey])
SYSTEM = "/v2/systemsharedmemory"
CUDA = "/v2/cudasharedmemory"


def _registry(request: Request) -> SharedMemoryRegistry:
    registry: SharedMemoryRegistry = request.app.state.shared_memory
    return registry


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        doc = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"request body must be a JSON object, got {type(doc).__name__}")
    return doc


@router.get(f"{SYSTEM}/status", summary="Every registered system shared-memory region")
async def status_all(request: Request) -> list[dict[str, Any]]:
    return _registry(request).status()


@router.get(f"{SYSTEM}/region/{{region_name}}/status", summary="One registered region",
            responses={404: {"description": "No such region is registered"}})
async def status(region_name: str, request: Request) -> list[dict[str, Any]]:
    return _registry(request).status(region_name)


@router.post(f"{SYSTEM}/region/{{region_name}}/register",
             summary='Register a region: {"key": "/name", "offset": 0, "byte_size": N} of a POSIX shm object',
             responses={400: {"description": "Bad key, offset or size"}, 403: {"description": "Turned off"}})
async def register(region_name: str, request: Request) -> dict[str, Any]:
    registry = _registry(request)
    if not registry.enabled:
        raise Forbidden(DISABLED)
    doc = await _json_object(request)
    registry.register(region_name, doc.get("key"), doc.get("offset", 0), doc.get("byte_size"))
    return {}


@router.post(f"{SYSTEM}/region/{{region_name}}/unregister", summary="Unregister (unmap) one region")
async def unregister(region_name: str, request: Request) -> dict[str, Any]:
    _registry(request).unregister(region_name)
    return {}


@router.post(f"{SYSTEM}/unregister", summary="Unregister (unmap) every region")
async def unregister_all(request: Request) -> dict[str, Any]:
    _registry(request).unregister()
    return {}


_CUDA: dict[int | str, dict[str, Any]] = {400: {"description": "CUDA shared memory is not supported"}}
_NOT_SUPPORTED = "CUDA shared memory: not supported (400)"


@router.get(f"{CUDA}/status", summary=_NOT_SUPPORTED, responses=_CUDA)
async def cuda_status_all() -> None:
    raise NotSupported(CUDA_UNSUPPORTED)


@router.get(f"{CUDA}/region/{{region_name}}/status", summary=_NOT_SUPPORTED, responses=_CUDA)
async def cuda_status(region_name: str) -> None:
    raise NotSupported(CUDA_UNSUPPORTED)


@router.post(f"{CUDA}/region/{{region_name}}/register", summary=_NOT_SUPPORTED, responses=_CUDA)
async def cuda_register(region_name: str) -> None:
    raise NotSupported(CUDA_UNSUPPORTED)


# Nothing can be registered, so unregistering is a no-op that succeeds: perf_analyzer unregisters
# both kinds of region when it starts and when it finishes, and reports a failure as an error.
@router.post(f"{CUDA}/region/{{region_name}}/unregister", summary="CUDA shared memory: nothing to unregister")
async def cuda_unregister(region_name: str) -> dict[str, Any]:
    return {}


@router.post(f"{CUDA}/unregister", summary="CUDA shared memory: nothing to unregister")
async def cuda_unregister_all() -> dict[str, Any]:
    return {}
