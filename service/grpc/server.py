"""Start and stop the gRPC front door inside the HTTP server's event loop."""

from __future__ import annotations

import logging

import grpc
from grpc_health.v1 import health_pb2_grpc

from ..core.admission import Admission
from ..core.repository import ModelRepository
from ..core.settings import Settings
from ..core.shared_memory import SharedMemoryRegistry
from ..core.statistics import Statistics
from ..workers.group import Group
from ._generated import grpc_service_pb2_grpc as pb_grpc
from .health import HealthServicer
from .shared_memory import SharedMemoryServicer
from .streaming import StreamingServicer

log = logging.getLogger(__name__)


class Servicer(StreamingServicer, SharedMemoryServicer):
    """Every RPC this server answers: the core ones (servicer.py), the group's view under
    `--workers N` (group.py), shared memory (shared_memory.py) and streaming (streaming.py)."""


class GrpcServer:
    """grpcio's asyncio server on `settings.grpc_port`, over the HTTP server's repository.

    With a `group` (a worker of `--workers N`) the port is shared with the other workers
    (SO_REUSEPORT, reserved by the supervisor); alone, a taken port fails the start."""

    def __init__(
        self, repo: ModelRepository, settings: Settings, statistics: Statistics, admission: Admission | None = None,
        regions: SharedMemoryRegistry | None = None, group: Group | None = None,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.statistics = statistics
        self.regions = regions
        self.group = group
        # The app's Admission when serving beside HTTP, so both protocols share one in-flight cap.
        self.admission = admission or Admission(settings.max_inflight_requests)
        self.server: grpc.aio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        """Bind and serve; return the bound port. A taken port raises RuntimeError."""
        # Built here, not in __init__: grpc.aio binds the server to the running event loop.
        server = grpc.aio.server(options=[
            # The same ceiling as HTTP's body limit; gRPC answers RESOURCE_EXHAUSTED past it.
            ("grpc.max_receive_message_length", self.settings.max_body_bytes),
            ("grpc.max_send_message_length", -1),
            # Alone: fail to start when the port is taken instead of silently sharing it.
            ("grpc.so_reuseport", 0 if self.group is None else 1),
        ])
        servicer = Servicer(self.repo, self.settings, self.statistics, self.admission, self.regions, self.group)
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(self.repo), server)
        address = f"{self.settings.host}:{self.settings.grpc_port}"
        self.port = server.add_insecure_port(address)
        await server.start()
        self.server = server
        log.info("gRPC listening", extra={"address": address})
        return self.port

    async def stop(self, grace_s: float) -> None:
        """Refuse new calls at once; calls in flight get up to grace_s to finish."""
        if self.server is not None:
            await self.server.stop(grace_s)
