"""Overload drill: offer ~5x the measured capacity and check the server degrades well.

    python -m scripts.reliability.overload                      # reference model, or the tiny fixture
    python -m scripts.reliability.overload --repository models/repository --model digits_lenet \\
        --factor 5 --duration 30 --output overload.json

Steps: start the server with small limits (ORTSERVE_MAX_INFLIGHT_REQUESTS and
the model's max_queue_size, so rejection is visible), measure capacity with a
closed loop, then offer `factor` x capacity open loop for `duration` seconds
while sampling the server's RSS. The JSON report has offered vs achieved rate,
accepted count and p50/p99/max latency (from intended send time), rejections
by status and reason with how many carried Retry-After, RSS start/peak/end,
and whether the server was alive at the end. Exit status 1 if a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from .server import RssSampler, choose_target, emit, limited_repository, log_path_for, read_config, serving
from .traffic import closed_loop, open_loop, request_specs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m scripts.reliability.overload", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repository", type=Path, help="model repository (default: models/repository)")
    p.add_argument("--model", help="model to load (default: vowels_lstm or digits_lenet, else the tiny fixture)")
    p.add_argument("--tiny", action="store_true", help="serve the tiny fixture even if reference models exist")
    p.add_argument("--url", help="attach to a running server on loopback instead of starting one (needs --pid)")
    p.add_argument("--pid", type=int, help="PID of the attached server, for RSS")
    p.add_argument("--sequence-length", type=int, help="frames per request for synthetic sequence inputs")
    p.add_argument("--factor", type=float, default=5.0, help="offered load as a multiple of capacity (5)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of overload (10)")
    p.add_argument("--capacity-s", type=float, default=3.0, help="seconds of the closed-loop capacity run (3)")
    p.add_argument("--concurrency", type=int, default=16, help="closed-loop workers for capacity (16)")
    p.add_argument("--max-inflight", type=int, default=32, help="ORTSERVE_MAX_INFLIGHT_REQUESTS (32)")
    p.add_argument("--queue-size", type=int, default=16, help="the model's max_queue_size (16)")
    p.add_argument("--intra-op-threads", type=int, default=1,
                   help="ORTSERVE_INTRA_OP_THREADS (1: leaves a core for HTTP and the client on a 2-core box; 0 = ORT default)")
    p.add_argument("--connections", type=int, default=256, help="client connections, above --max-inflight (256)")
    p.add_argument("--max-p99-ms", type=float,
                   help="check: p99 of accepted requests (default: 3 x max_inflight / capacity, Little's law)")
    p.add_argument("--max-rss-growth-mb", type=float, default=150.0, help="check: RSS peak minus start (150)")
    p.add_argument("--output", type=Path, help="also write the JSON report here")
    return p.parse_args(argv)


def p99_bound_ms(max_inflight: int, capacity_rps: float) -> float:
    """With at most `max_inflight` admitted at `capacity` req/s, an admitted request
    waits about max_inflight / capacity (Little's law); 3x that is generous."""
    return 3 * 1000 * max_inflight / capacity_rps


def checks(report: dict, max_p99_ms: float, max_rss_growth_mb: float) -> dict[str, bool]:
    o = report["overload"]
    rejected = sum(r["count"] for r in o["rejected"].values())
    with_retry = sum(r["with_retry_after"] for r in o["rejected"].values())
    server_errors = {s: n for s, n in o["other_outcomes"].items() if s.isdigit() and int(s) >= 500}
    return {
        "server_alive": report["server_alive"],
        "excess_rejected": rejected > 0,
        "every_rejection_has_retry_after": rejected == with_retry,
        "no_5xx_but_503": not server_errors,
        "no_transport_errors": not any(not s.isdigit() for s in o["other_outcomes"]),
        "accepted_p99_bounded": o["accepted"] > 0 and o["accepted_latency_ms"]["p99"] <= max_p99_ms,
        "rss_growth_bounded": report["rss"]["peak_mb"] - report["rss"]["start_mb"] <= max_rss_growth_mb,
    }


def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="overload-") as tmp:
        workdir = Path(tmp)
        target = choose_target(args.repository, args.model, workdir, args.tiny)
        repository = limited_repository(target, args.queue_size, workdir) if args.url is None else target.repository
        config = read_config(repository, target.model)
        specs = request_specs(config, target.model, args.sequence_length or target.sequence_length)
        env = {"ORTSERVE_MAX_INFLIGHT_REQUESTS": str(args.max_inflight),
               "ORTSERVE_INTRA_OP_THREADS": str(args.intra_op_threads)}
        with serving(repository, env, url=args.url, pid=args.pid, log_path=log_path_for(workdir)) as server:
            with RssSampler(server.pid, interval_s=0.2) as rss:
                asyncio.run(closed_loop(server.url, specs, args.concurrency, min(1.0, args.capacity_s)))  # warm-up
                capacity = asyncio.run(closed_loop(server.url, specs, args.concurrency, args.capacity_s))
                if capacity.rate <= 0:
                    raise SystemExit(f"capacity run got no 200 answers: {capacity.summary()}")
                offered = capacity.rate * args.factor
                overload_from = rss.mark()
                result = asyncio.run(open_loop(server.url, specs, offered, args.duration,
                                               connections=args.connections))
            alive = server.alive()
            after = asyncio.run(closed_loop(server.url, specs, 2, 0.5)) if alive else None
        exit_code = server.exit_code()  # stopped with SIGTERM when the block ended
    report = {
        "model": target.model,
        "source": target.source,
        "limits": {"max_inflight_requests": args.max_inflight, "max_queue_size": args.queue_size,
                   "intra_op_threads": args.intra_op_threads, "client_connections": args.connections}
        if args.url is None else {"server": "as started elsewhere", "client_connections": args.connections},
        "capacity_rps": round(capacity.rate, 1),
        "capacity": capacity.summary(),
        "factor": args.factor,
        "offered_rps": round(offered, 1),
        "overload": result.summary(),
        "rss": rss.summary(),
        "rss_during_overload": rss.summary(since=overload_from),
        "server_alive": alive,
        "serves_after_overload": bool(after and after.accepted),
        "exit_code_after_sigterm": exit_code,
    }
    report["p99_bound_ms"] = round(args.max_p99_ms or p99_bound_ms(args.max_inflight, capacity.rate), 1)
    report["checks"] = checks(report, report["p99_bound_ms"], args.max_rss_growth_mb)
    report["passed"] = all(report["checks"].values())
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return emit(run(args), args.output)


if __name__ == "__main__":
    sys.exit(main())
