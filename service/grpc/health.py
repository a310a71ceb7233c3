"""The standard `grpc.health.v1.Health` service, so Kubernetes gRPC probes work.

Check answers from the repository's readiness at the moment of the call (models
load, unload and fail over time), for the server ("") and for the inference service.
"""

from __future__ import annotations

from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ..core.repository import ModelRepository

SERVICES = ("", "inference.GRPCInferenceService")


class HealthServicer(health_pb2_grpc.HealthServicer):
    def __init__(self, repo: ModelRepository) -> None:
        self.repo = repo

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> health_pb2.HealthCheckResponse:
        if request.service not in SERVICES:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}; known: {list(SERVICES)}")
        status = health_pb2.HealthCheckResponse.SERVING if self.repo.ready() else health_pb2.HealthCheckResponse.NOT_SERVING
        return health_pb2.HealthCheckResponse(status=status)
