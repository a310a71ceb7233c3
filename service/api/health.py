"""Server and model metadata and health (OIP v2), plus /metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ..protocol import metadata
from .deps import AppMetrics, AppSettings, Repo

router = APIRouter(tags=["health & metadata"])


@router.get("/v2", summary="Server metadata")
async def server_metadata(settings: AppSettings) -> dict[str, Any]:
    return metadata.server_metadata(settings.system_shared_memory)


@router.get("/v2/health/live", summary="Liveness: the process runs")
async def live() -> dict[str, Any]:
    return {"live": True}


@router.get(
    "/v2/health/ready",
    summary="Readiness: every model that should load has loaded and warmed up",
    responses={503: {"description": "Still loading, or no model is ready"}},
)
async def ready(repo: Repo) -> Response:
    models = {row["name"] + (f"/{row['version']}" if row.get("version") else ""): row for row in repo.index()}
    ok = repo.ready()
    return JSONResponse({"ready": ok, "models": models}, status_code=200 if ok else 503)


@router.get("/v2/models/{model_name}", summary="Model metadata (latest ready version)")
async def model_metadata(model_name: str, repo: Repo) -> dict[str, Any]:
    return metadata.model_metadata(repo, model_name)


@router.get("/v2/models/{model_name}/versions/{model_version}", summary="Model metadata of one version")
async def model_version_metadata(model_name: str, model_version: str, repo: Repo) -> dict[str, Any]:
    return metadata.model_metadata(repo, model_name, model_version)


_READY_RESPONSES: dict[int | str, dict[str, Any]] = {503: {"description": "Model known but not ready; the body says why"}}


@router.get("/v2/models/{model_name}/ready", summary="Model readiness", responses=_READY_RESPONSES)
async def model_ready(model_name: str, repo: Repo) -> dict[str, Any]:
    mv = repo.get(model_name)
    return {"name": model_name, "version": str(mv.version), "ready": True}


@router.get(
    "/v2/models/{model_name}/versions/{model_version}/ready",
    summary="Readiness of one model version",
    responses=_READY_RESPONSES,
)
async def model_version_ready(model_name: str, model_version: str, repo: Repo) -> dict[str, Any]:
    mv = repo.get(model_name, model_version)
    return {"name": model_name, "version": str(mv.version), "ready": True}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(m: AppMetrics) -> Response:
    return Response(m.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
