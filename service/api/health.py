"""Server and model metadata and health (OIP v2), plus /metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from .. import __version__
from ..core.config import TensorSpec
from ..core.errors import ModelUnavailable
from ..core.repository import ModelEntry, ModelVersion, State
from .deps import AppMetrics, Repo

router = APIRouter(tags=["health & metadata"])

SERVER_NAME = "ortserve"
EXTENSIONS = ["binary_tensor_data", "model_repository", "friendly_endpoints", "metrics"]


@router.get("/v2", summary="Server metadata")
async def server_metadata() -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": __version__, "extensions": EXTENSIONS}


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


def _tensors(specs: list[TensorSpec], batched: bool) -> list[dict[str, Any]]:
    return [
        {"name": s.name, "datatype": s.datatype, "shape": ([-1] if batched else []) + list(s.dims)} for s in specs
    ]


def _metadata(entry: ModelEntry, mv: ModelVersion | None) -> dict[str, Any]:
    cfg = entry.config
    doc: dict[str, Any] = {
        "name": entry.name,
        "versions": [str(v) for v in sorted(entry.versions)],
        "platform": "onnx_onnxv1",
        "inputs": _tensors(cfg.input, cfg.batched) if cfg else [],
        "outputs": _tensors(cfg.output, cfg.batched) if cfg else [],
        "state": (mv.state if mv and entry.state is not State.UNLOADED else entry.state).value,
        "reason": (mv.reason if mv else entry.reason) or entry.reason,
    }
    if mv is not None:
        doc["version"] = str(mv.version)
        doc["provider"] = mv.provider
        doc["providers"] = mv.runtime.providers if mv.runtime else []
    if cfg:
        doc["max_batch_size"] = cfg.max_batch_size
        doc["labels"] = cfg.labels
        doc["description"] = cfg.description
    return doc


@router.get("/v2/models/{model_name}", summary="Model metadata (latest ready version)")
async def model_metadata(model_name: str, repo: Repo) -> dict[str, Any]:
    entry = repo.entry(model_name)
    return _metadata(entry, entry.latest_ready() or _newest(entry))


@router.get("/v2/models/{model_name}/versions/{model_version}", summary="Model metadata of one version")
async def model_version_metadata(model_name: str, model_version: str, repo: Repo) -> dict[str, Any]:
    entry = repo.entry(model_name)
    try:
        mv = repo.get(model_name, model_version)
    except ModelUnavailable:
        mv = entry.versions[int(model_version)]
    return _metadata(entry, mv)


def _newest(entry: ModelEntry) -> ModelVersion | None:
    return entry.versions[max(entry.versions)] if entry.versions else None


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
