"""`python -m service`: start the server.

Options override ORTSERVE_* environment variables, which override the defaults
(127.0.0.1:8000, the committed reference repository).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from .api.app import create_app
from .logs import configure_logging
from .settings import Settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("--host", help="bind address (env ORTSERVE_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (env ORTSERVE_PORT, default 8000)")
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
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep our JSON logging
        access_log=False,
        # On SIGTERM uvicorn stops accepting, then waits this long for accepted requests.
        timeout_graceful_shutdown=settings.drain_timeout_s,
        timeout_keep_alive=5,
    )


if __name__ == "__main__":
    main()
