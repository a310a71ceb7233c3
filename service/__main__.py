"""`python -m service`: start the server.

Options override ORTSERVE_* environment variables, which override the defaults
(127.0.0.1:8000, the committed reference repository). With `--workers N` (N > 1)
this process becomes a supervisor of N server processes on one port (service/workers/).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn

from .api.app import create_app
from .api.fastpath import protocol_for
from .core.cpus import Layout, plan, usable_cpus
from .core.logs import configure_logging
from .core.repository import ModelRepository
from .core.settings import Settings
from .grpc.server import GrpcServer
from .workers import Role
from .workers.gateway import Gateway
from .workers.supervisor import Supervisor, shared_socket

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

    def __init__(
        self, config: uvicorn.Config, repository: ModelRepository, grpc: GrpcServer | None = None,
        on_started: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self.repository = repository
        self.grpc = grpc
        self.on_started = on_started

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
        if self.started and self.on_started is not None:
            self.on_started()

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
        # Requests already read finish with the queues still open: closing them first answered
        # one that was between its headers and its queue with a 503 (seen under `docker stop`).
        if self.server_state.tasks:
            await asyncio.wait(set(self.server_state.tasks), timeout=self.repository.settings.drain_timeout_s)
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
    parser.add_argument("--workers", help="server processes on the port: N or auto (env ORTSERVE_WORKERS, default 1)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="env ORTSERVE_LOG_LEVEL")
    return parser.parse_args(argv)


def build_settings(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    return Settings(**overrides)


def report_layout(layout: Layout) -> None:
    """Log how workers and ORT threads share the CPUs; warn when they oversubscribe them."""
    log.info("CPU layout: " + layout.describe(), extra={
        "workers": layout.workers, "intra_op_threads": layout.intra_op_threads, "usable_cpus": layout.usable_cpus})
    if layout.oversubscribed:
        log.warning(
            f"{layout.workers} workers x {layout.intra_op_threads} ORT intra-op threads oversubscribe "
            f"{layout.usable_cpus} usable CPUs; set ORTSERVE_INTRA_OP_THREADS={max(1, layout.usable_cpus // layout.workers)}"
            " or fewer workers"
        )


def serve(settings: Settings, role: Role | None = None) -> None:
    """One server process: the whole server, or worker `role.index` of a group."""
    app = create_app(settings)
    sockets = None
    on_started = None
    asgi = app
    if role is not None:
        asgi = Gateway(app, role, app.state.repository)  # type: ignore[assignment]
        private = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        role.socket_path(role.index).unlink(missing_ok=True)
        private.bind(str(role.socket_path(role.index)))
        sockets = [shared_socket(settings.host, settings.port), private]

        def on_started() -> None:
            role.marker(role.index).touch()
    config = uvicorn.Config(
        asgi,
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
    server = DrainingServer(config, repo, grpc, on_started)
    try:
        server.run(sockets=sockets)
    except KeyboardInterrupt:  # Ctrl-C: uvicorn re-raises SIGINT after the drain
        pass
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE, e.g. the port is taken


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    settings = build_settings(parse_args(argv))
    configure_logging(settings.log_level, settings.log_json)
    role = Role.from_env()
    if role is not None:
        serve(settings, role)
        return
    layout = plan(settings.workers, settings.intra_op_threads, usable_cpus())
    report_layout(layout)
    if layout.workers == 1:
        serve(settings)  # today's single process: no supervisor, no gateway
        return
    sys.exit(Supervisor(settings, layout, argv).run())


if __name__ == "__main__":
    main()
