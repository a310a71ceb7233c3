"""`python -m service`: start the server.

Options override ORTSERVE_* environment variables, which override the defaults
(127.0.0.1:8000, the committed reference repository). With `--workers N` (N > 1)
this process becomes a supervisor of N server processes on one port (service/workers/).
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path

import uvicorn

from .api.app import create_app
from .api.uvicorn_seam import RESPONSE_GRACE_S, DrainingServer, protocol_for
from .core.cpus import Layout, plan, usable_cpus
from .core.logs import configure_logging
from .core.settings import Settings
from .grpc.server import GrpcServer
from .workers import Role
from .workers.gateway import Gateway
from .workers.group import Group
from .workers.supervisor import Supervisor, shared_socket

log = logging.getLogger("service")


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
    asgi = app.entry
    if role is not None:
        asgi = Gateway(asgi, role, app.state.repository, app.state.shared_memory)
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
        # X-Forwarded-* are not read (no client address is used): uvicorn's middleware for them
        # would copy every request's headers into a dict for nothing.
        proxy_headers=False,
        # The model queues drain first (up to drain_timeout_s, see DrainingServer);
        # this only bounds writing the answers that follow.
        timeout_graceful_shutdown=RESPONSE_GRACE_S,
        timeout_keep_alive=5,
        # Admission in the HTTP parser (api/uvicorn_seam.py; checked when the server starts).
        http=protocol_for(app.state.http_admission),
    )
    repo = app.state.repository
    grpc = GrpcServer(
        repo, settings, app.state.metrics.statistics, app.state.admission,
        regions=app.state.shared_memory, group=None if role is None else Group(role),
    ) if settings.grpc_port else None
    server = DrainingServer(config, repo, app.state.http_admission, grpc, on_started)
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
