"""Command-line options and the loopback guard."""

from __future__ import annotations

import argparse
import ipaddress
import socket
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from .payloads import MODES
from .runner import LATE_TOLERANCE_S
from .schedule import ARRIVALS
from .transport import TRANSPORTS

DEFAULT_REPOSITORY = Path(__file__).resolve().parents[2] / "models" / "repository"


class RemoteTargetError(ValueError):
    """The target is not this machine and --allow-remote was not given."""


def check_loopback(url: str, allow_remote: bool = False) -> None:
    """Refuse any host that resolves to something outside 127.0.0.0/8 and ::1.

    A load test is a denial-of-service tool; pointing it elsewhere must be explicit.
    Every resolved address must be loopback, so a name that also resolves to a
    public address is refused too.
    """
    if allow_remote:
        return
    host = urlsplit(url).hostname
    if not host:
        raise RemoteTargetError(f"--url {url!r} has no host")
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise RemoteTargetError(f"--url host {host!r} does not resolve: {exc}") from None
    addresses = {info[4][0].split("%")[0] for info in infos}
    remote = sorted(a for a in addresses if not ipaddress.ip_address(a).is_loopback)
    if remote:
        raise RemoteTargetError(
            f"--url host {host!r} resolves to non-loopback {remote}; pass --allow-remote to load-test another machine"
        )


def _levels(kind):
    def parse(text: str) -> list:
        try:
            values = [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of numbers, got {text!r}") from None
        if not values or any(v <= 0 for v in values):
            raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
        return values

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m scripts.loadtest",
        description="Load-test an Open Inference Protocol server: closed-loop concurrency sweeps or "
        "open-loop rate sweeps, with exact percentiles and the server's own breakdown from /metrics.",
    )
    p.add_argument("model", help="model name, as in models/repository/<name>")
    p.add_argument("--url", default="http://127.0.0.1:8000",
                   help="server base URL; also where /metrics is read with --protocol grpc (default %(default)s)")
    p.add_argument("--protocol", choices=("http", "grpc"), default="http",
                   help="http: OIP REST (--payload); grpc: ModelInfer with raw tensors, as tritonclient.grpc "
                        "sends, to --grpc-url (default %(default)s)")
    p.add_argument("--grpc-url", default="127.0.0.1:8001", help="gRPC host:port (default %(default)s)")
    p.add_argument("--version", default=None, help="model version (default: the server's latest)")
    p.add_argument("--payload", choices=MODES, default="binary", help="request encoding (default %(default)s)")
    load = p.add_mutually_exclusive_group()
    load.add_argument("--concurrency", type=_levels(int), help="closed loop: comma-separated levels, e.g. 1,4,16,64")
    load.add_argument("--rate", type=_levels(float), help="open loop: comma-separated req/s, e.g. 100,500,1000")
    p.add_argument("--arrival", choices=ARRIVALS, default="constant", help="open-loop arrivals (default %(default)s)")
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per step (default %(default)s)")
    p.add_argument("--requests", type=int, default=None, help="measured requests per step instead of --duration")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each step (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=1, help="items per request (default %(default)s)")
    p.add_argument("--outputs", default=None, help="comma-separated outputs to ask for (default: all declared)")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, s (default %(default)s)")
    p.add_argument("--max-inflight", type=int, default=1024, help="open loop: in-flight cap; beyond it sends are dropped")
    p.add_argument("--connections", type=int, default=64,
                   help="open loop: keep-alive connections; requests beyond wait for one, and that wait counts")
    p.add_argument("--late-tolerance-ms", type=float, default=LATE_TOLERANCE_S * 1e3,
                   help="open loop: a send later than this counts as late (default %(default)s ms)")
    p.add_argument("--processes", type=int, default=1, help="client processes sharing the load (default %(default)s)")
    p.add_argument("--input-file", default=None, help=".npy, .npz or a directory of PNGs instead of the built-in data")
    p.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY, help="where <model>/config.json is read")
    p.add_argument("--out", type=Path, default=None, help="directory for results.json / results.csv (and the plot)")
    p.add_argument("--plot", action="store_true", help="also write latency and throughput plots (PNG) to --out")
    p.add_argument("--seed", type=int, default=0, help="seed for Poisson arrivals and data splits")
    p.add_argument("--transport", choices=TRANSPORTS, default="raw",
                   help="raw: lean keep-alive HTTP/1.1, cheap enough not to be the bottleneck; "
                        "httpx: a full client (default %(default)s)")
    p.add_argument("--no-uvloop", dest="uvloop", action="store_false", help="use the default asyncio loop")
    p.add_argument("--allow-remote", action="store_true", help="allow a target that is not this machine")
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.concurrency is None and args.rate is None:
        args.concurrency = [1, 4, 16, 64]
    for name in ("duration", "timeout"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be > 0, got {getattr(args, name)}")
    for name in ("batch_size", "processes", "max_inflight", "connections"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.requests is not None and args.requests < 1:
        parser.error(f"--requests must be >= 1, got {args.requests}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    if args.plot and args.out is None:
        parser.error("--plot needs --out DIR")
    if args.protocol == "grpc" and args.payload == "friendly":
        parser.error("--payload friendly is REST only; --protocol grpc sends raw tensors")
    try:
        check_loopback(args.url, args.allow_remote)
        if args.protocol == "grpc":
            check_loopback(f"grpc://{args.grpc_url}", args.allow_remote)
    except RemoteTargetError as exc:
        parser.error(str(exc))
    return args
