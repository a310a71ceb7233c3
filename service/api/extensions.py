"""Triton's model-configuration and statistics extensions, as tritonclient.http calls them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..protocol.extensions import model_config_document, statistics_document
from .deps import ApiKey, AppMetrics, Repo

router = APIRouter(tags=["model configuration & statistics (Triton extensions)"])

_CONFIG: dict[int | str, dict[str, Any]] = {"404": {"description": "Unknown model or version"}, "503": {"description": "Model failed to load"}}


@router.get("/v2/models/{model_name}/config", summary="Served configuration (Triton's ModelConfig JSON)",
            responses=_CONFIG)
async def model_config(model_name: str, repo: Repo) -> dict[str, Any]:
    return model_config_document(repo, model_name)


@router.get("/v2/models/{model_name}/versions/{model_version}/config",
            summary="Served configuration of one version", responses=_CONFIG)
async def model_version_config(model_name: str, model_version: str, repo: Repo) -> dict[str, Any]:
    return model_config_document(repo, model_name, model_version)


# Declared before GET /v2/models/{model_name} (the app includes this router first),
# so /v2/models/stats is the statistics of every model, as in Triton.
@router.get("/v2/models/stats", summary="Statistics of every ready model version", dependencies=[ApiKey])
async def all_statistics(repo: Repo, metrics: AppMetrics) -> dict[str, Any]:
    return statistics_document(repo, metrics.statistics)


@router.get("/v2/models/{model_name}/stats", summary="Statistics of every ready version of a model",
            dependencies=[ApiKey])
async def model_statistics(model_name: str, repo: Repo, metrics: AppMetrics) -> dict[str, Any]:
    return statistics_document(repo, metrics.statistics, model_name)


@router.get("/v2/models/{model_name}/versions/{model_version}/stats", summary="Statistics of one model version",
            dependencies=[ApiKey])
async def model_version_statistics(model_name: str, model_version: str, repo: Repo, metrics: AppMetrics) -> dict[str, Any]:
    return statistics_document(repo, metrics.statistics, model_name, model_version)
