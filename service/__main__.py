"""`python -m service`: start the server.

Options override ORTSERVE_* environment variables, which override the defaults
(127.0.0.1:8000, the committed reference repository).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from pathlib import Path

import uvicorn

from .api.app import create_app
from .api.fastpath import protocol_for
from .core.logs import configure_logging
from .core.repository import ModelRepository
from .core.settings import Settings
from .grpc.server import GrpcServer

log = logging.getLogger("service")

# After the model queues have drained, the time left to write the last responses.
RESPONSE_GRACE_S = 5


class DrainingServer(uvicorn.Server):
    """uvicorn, with the model queues drained *inside* the graceful-shutdown window.

    Plain uvicorn waits `timeout_graceful_shutdown` for in-flight requests, then
    cancels them, and a cancelled request gets a bare text/plain 500; the app's
    lifespan shutdown (our drain) only runs after that. Here SIGTERM first stops
    the listeners, then drains the queues: accepted work runs for up to
    drain_timeout_s, whatever is left is failed with ShuttingDown (a 503 JSON
    answer with Retry-After), and uvicorn then only waits for those answers.
    The gRPC server (same loop, same repository) starts before HTTP and stops
    accepting calls together with it; its calls in flight end with the queues.
    """

    def __init__(self, config: uvicorn.Config, repository: ModelRepository, grpc: GrpcServer | None = None) -> None:
        super().__init__(config)
        self.repository = repository
        self.grpc = grpc

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # gRPC binds first, so by the time HTTP answers "ready" the gRPC port is listening
        # too; while the models load (uvicorn's lifespan, below) gRPC ServerReady says false.
        if self.grpc is not None:
            try:
                await self.grpc.start()
            except RuntimeError as exc:  # e.g. the port is taken
                log.error("gRPC failed to start", extra={"error": str(exc)})
                self.should_exit = True  # `started` stays False: main() exits with status 3
                return
        await super().startup(sockets)
        if not self.started and self.grpc is not None:  # HTTP failed to start
            await self.grpc.stop(0)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # new connections are refused from here on
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle keep-alive connections close; busy ones close after their answer
        # gRPC refuses new calls at once; its calls in flight end with the queues below.
        grpc_stopped = None
        if self.grpc is not None:
            grace = self.repository.settings.drain_timeout_s + RESPONSE_GRACE_S
            grpc_stopped = asyncio.ensure_future(self.grpc.stop(grace))
        await self.repository.close()
        if grpc_stopped is not None:
            await grpc_stopped
        await super().shutdown(sockets)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("--host", help="bind address (env ORTSERVE_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (env ORTSERVE_PORT, default 8000)")
    parser.add_argument("--grpc-port", type=int, help="gRPC port (env ORTSERVE_GRPC_PORT, default 8001; 0 = off)")
    parser.add_argument("--repository", type=Path, help="model repository (env ORTSERVE_REPOSITORY)")
    parser.add_argument("--provider", choices=["auto", "cuda", "cpu"], help="env ORTSERVE_PROVIDER, default auto")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="env ORTSERVE_LOG_LEVEL")
    return parser.parse_args(argv)


def build_settings(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    return Settings(**overrides)


def main(argv: list[str] | None = None) -> None:
    settings = build_settings(parse_args(argv))
    configure_logging(settings.log_level, settings.log_json)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep our JSON logging
        access_log=False,
        # The model queues drain first (up to drain_timeout_s, see DrainingServer);
        # this only bounds writing the answers that follow.
        timeout_graceful_shutdown=RESPONSE_GRACE_S,
        timeout_keep_alive=5,
        # Admission rejections answered in the HTTP parser (see api/fastpath.py).
        http=protocol_for(app),
    )
    repo = app.state.repository
    grpc = (
        GrpcServer(repo, settings, app.state.metrics.statistics, app.state.admission) if settings.grpc_port else None
    )
    server = DrainingServer(config, repo, grpc)
    try:
        server.run()
    except KeyboardInterrupt:  # Ctrl-C: uvicorn re-raises SIGINT after the drain
        pass
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE, e.g. the port is taken


if __name__ == "__main__":
    main()
