"""Model repository extension: a read-only index, plus admin-only load and unload."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request

from ..core.errors import ConfigError, InvalidInput
from ..core.repository import State
from .deps import Admin, ApiKey, Repo

router = APIRouter(tags=["model repository"])


@router.post("/v2/repository/index", summary="List every model with its versions, state and reason",
             dependencies=[ApiKey])
async def index(request: Request, repo: Repo) -> list[dict[str, Any]]:
    ready_only = False
    body = await request.body()
    if body.strip():
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"request body is not valid JSON: {exc}") from None
        ready_only = bool(doc.get("ready", False)) if isinstance(doc, dict) else False
    rows = repo.index()
    return [r for r in rows if r["state"] == State.READY.value] if ready_only else rows


@router.post(
    "/v2/repository/models/{model_name}/load",
    summary="Load or reload a model (admin). New versions warm up before they take traffic.",
    dependencies=[Admin],
    responses={400: {"description": "The model failed to load; the previous load keeps serving"}},
)
async def load(model_name: str, repo: Repo) -> dict[str, Any]:
    try:
        entry = await repo.load(model_name)
    except ConfigError as exc:
        raise InvalidInput(f"failed to load {model_name!r}: {exc.message}") from None
    if entry.state is not State.READY:
        raise InvalidInput(f"failed to load {model_name!r}: {entry.reason}")
    return {"name": model_name, "state": entry.state.value, "versions": [str(v) for v in sorted(entry.versions)]}


@router.post("/v2/repository/models/{model_name}/unload", summary="Unload a model (admin); it drains first",
             dependencies=[Admin])
async def unload(model_name: str, repo: Repo) -> dict[str, Any]:
    await repo.unload(model_name)
    return {"name": model_name, "state": State.UNLOADED.value}
