"""Shared request dependencies: the repository, settings, auth checks, disconnect-aware awaiting.

Every dependency is `async def`: FastAPI runs plain `def` dependencies in a worker
thread, and with five of them per request those thread hops were a measured
share of the per-request CPU.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from ..core.auth import check_admin, check_api_key, presented_token
from ..core.metrics import Metrics
from ..core.repository import ModelRepository
from ..core.settings import Settings
from .disconnect import cancel_on_disconnect

T = TypeVar("T")


async def get_repository(request: Request) -> ModelRepository:
    repository: ModelRepository = request.app.state.repository
    return repository


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def _presented_token(request: Request) -> str | None:
    return presented_token(request.headers.get("authorization"), request.headers.get("x-api-key"))


async def require_api_key(request: Request) -> None:
    check_api_key(_presented_token(request), request.app.state.settings.api_key)


async def require_admin(request: Request) -> None:
    check_admin(_presented_token(request), request.app.state.settings.admin_token)


Repo = Annotated[ModelRepository, Depends(get_repository)]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
AppMetrics = Annotated[Metrics, Depends(get_metrics)]
ApiKey = Depends(require_api_key)
Admin = Depends(require_admin)


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it if the client disconnects first, so queued work is dropped."""
    return await cancel_on_disconnect(request.receive, work)
