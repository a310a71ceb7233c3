"""Triton's trace extension over HTTP: `GET/POST /v2/trace/setting` and `/v2/models/{m}/trace/setting`.

Settings use Triton's names and string values (`trace_level`, `trace_rate`, `trace_count`,
`log_frequency`; see core/tracing/control.py) and take effect at once, also in the
OpenTelemetry mode, which is the only mode here. Reading needs the API key (when one is
set), changing needs the admin token: a change decides what leaves the server and costs CPU.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request

from ..core.errors import InvalidInput
from ..core.repository import ModelRepository
from .deps import Admin, ApiKey, Repo

router = APIRouter(tags=["trace (Triton extension)"])

_EXAMPLE = {"trace_level": ["TIMESTAMPS"], "trace_rate": "100", "trace_count": "-1", "log_frequency": "0"}
_BODY: dict[str, Any] = {"requestBody": {"required": False, "content": {"application/json": {
    "schema": {"type": "object", "additionalProperties": True}, "example": _EXAMPLE}}, "description": (
    "Settings to change, Triton's names and string values; JSON null clears one (a model's falls back to the "
    "server's, the server's to its startup value). An empty body changes nothing.")}}


async def _changes(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"request body must be a JSON object of trace settings, got {type(doc).__name__}")
    return doc


def _apply(repo: ModelRepository, changes: dict[str, Any], model: str | None) -> dict[str, Any]:
    if model is not None:
        repo.entry(model)  # 404 for an unknown model
    return repo.tracing.update(changes, model) if changes else repo.tracing.document(model)


@router.get("/v2/trace/setting", summary="The server's trace settings", dependencies=[ApiKey])
async def get_settings(repo: Repo) -> dict[str, Any]:
    return repo.tracing.document()


@router.post("/v2/trace/setting", summary="Change the server's trace settings (admin)", dependencies=[Admin],
             responses={400: {"description": "An unknown setting or a bad value: nothing changed"}},
             openapi_extra=_BODY)
async def post_settings(request: Request, repo: Repo) -> dict[str, Any]:
    return _apply(repo, await _changes(request), None)


@router.get("/v2/models/{model_name}/trace/setting", summary="A model's trace settings", dependencies=[ApiKey],
            responses={404: {"description": "Unknown model"}})
async def get_model_settings(model_name: str, repo: Repo) -> dict[str, Any]:
    repo.entry(model_name)
    return repo.tracing.document(model_name)


@router.post("/v2/models/{model_name}/trace/setting", summary="Change a model's trace settings (admin)",
             dependencies=[Admin], responses={400: {"description": "An unknown setting or a bad value"},
                                              404: {"description": "Unknown model"}}, openapi_extra=_BODY)
async def post_model_settings(model_name: str, request: Request, repo: Repo) -> dict[str, Any]:
    return _apply(repo, await _changes(request), model_name)
