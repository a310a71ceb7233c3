"""Overload drill: offer 5x the measured capacity and check that overload costs no goodput.

    python -m scripts.reliability.overload                      # a reference model (langid_transformer)
    python -m scripts.reliability.overload --model digits_lenet --factor 5 --duration 10 --output overload.json

Steps: start the server through the project's launcher, pinned to one CPU,
with this process (the load generator) pinned to the others; measure capacity
with a closed loop of `--max-inflight` workers (the admission limit, so nothing
is rejected); then offer `factor` x capacity open loop for `duration` seconds
over more connections than the admission limit, so admission really rejects,
while sampling the server's RSS. Load goes through scripts.loadtest's engine
and its lean raw HTTP/1.1 transport.

Checks (exit status 1 if one fails), ratios and bounds that hold on a quiet machine:
- goodput during overload >= --min-goodput (0.9) x capacity;
- every answer is 200 or 503 with Retry-After (no other status, no transport error, none unfinished);
- rejections come back within --max-reject-p99-ms (p99);
- accepted p99 <= --little-factor x the Little's-law wait max_inflight / goodput (the admitted
  throughput of the same window; the report also gives the bound at capacity);
- RSS growth during the overload <= --max-rss-growth-mb;
- the client kept to its schedule (else it measured itself), and the server is alive and serving after;
- capacity, measured before and after the overload (their mean is the reference), moved by at most
  --max-capacity-drift: on a shared machine whose speed changed, the ratios mean little.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from .load import REJECTED, closed, describe, open_loop, request_specs
from .server import (
    REFERENCE_MODELS,
    CpuWindow,
    RssSampler,
    add_target_args,
    choose_target,
    emit,
    limited_repository,
    log_path_for,
    read_config,
    serving,
    split_cpus,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m scripts.reliability.overload", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_target_args(p, OVERLOAD_MODELS)
    p.add_argument("--factor", type=float, default=5.0, help="offered load as a multiple of capacity (5)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of overload (10)")
    p.add_argument("--capacity-s", type=float, default=3.0, help="seconds of the closed-loop capacity run (3)")
    p.add_argument("--rows", type=int, default=1,
                   help="items per request (1); more rows make each admitted request dearer than a rejection")
    p.add_argument("--max-inflight", type=int, default=32, help="ORTSERVE_MAX_INFLIGHT_REQUESTS, the admission limit (32)")
    p.add_argument("--queue-size", type=int, help="override the model's max_queue_size")
    p.add_argument("--intra-op-threads", type=int, default=1, help="ORTSERVE_INTRA_OP_THREADS (1)")
    p.add_argument("--connections", type=int, default=128, help="client connections, above --max-inflight (128)")
    p.add_argument("--no-pin", action="store_true", help="do not pin the server and the client to separate CPUs")
    p.add_argument("--min-goodput", type=float, default=0.9, help="check: overload goodput / capacity (0.9)")
    p.add_argument("--max-reject-p99-ms", type=float, default=50.0, help="check: p99 of 503 answers (50)")
    p.add_argument("--little-factor", type=float, default=2.0,
                   help="check: accepted p99 <= this x max_inflight / capacity, Little's law (2)")
    p.add_argument("--max-rss-growth-mb", type=float, default=100.0, help="check: RSS growth during overload (100)")
    p.add_argument("--max-late-fraction", type=float, default=0.05,
                   help="check: sends more than 1 ms behind schedule; above it the client measured itself (0.05)")
    p.add_argument("--max-capacity-drift", type=float, default=0.15,
                   help="check: capacity before and after the overload differ by at most this fraction of their "
                        "mean; above it the machine changed speed and the ratios are unreliable (0.15)")
    p.add_argument("--output", type=Path, help="also write the JSON report here")
    return p.parse_args(argv)


OPEN_WARMUP_S = 0.5
AFTER_WARMUP_S = 0.5
# The dearest reference request first: 5x the capacity for the cheaper ones (4,000+ req/s on
# one core) is more than one Python client core can send, and the drill would measure the client.
OVERLOAD_MODELS = ("langid_transformer", *REFERENCE_MODELS)


def cpu_split(capacity_cpu_s: float, capacity_ok: int, overload_cpu_s: float, overload, factor: float) -> dict:
    """Where the server's one core went: CPU per admitted request from the capacity run, and
    what the overload's CPU left over costs per rejection. On one core, goodput at `factor` x
    capacity is about (1 - factor x r) / (1 - r) of capacity, r = rejection / admitted cost."""
    per_admitted = capacity_cpu_s / capacity_ok if capacity_ok else 0.0
    rejected = sum(v for k, v in overload.outcomes.items() if k[:3] in REJECTED)
    left = overload_cpu_s - overload.ok * per_admitted
    r = left / rejected / per_admitted if rejected and per_admitted and 0 < left < overload_cpu_s else None
    return {"per_admitted_ms": round(per_admitted * 1000, 3),
            "overload_busy": round(overload_cpu_s / (overload.elapsed_s or 1.0), 2),
            # None: the rejections' share is below the noise of this subtraction
            "per_rejection_us": round(left / rejected * 1e6, 1) if r is not None else None,
            "rejection_over_admitted": round(r, 4) if r is not None else None,
            "goodput_bound_one_core": round((1 - factor * r) / (1 - r), 3) if r is not None else None}


def little_bound_ms(max_inflight: int, throughput_rps: float, factor: float) -> float:
    """At most `max_inflight` admitted, completing at `throughput` req/s, wait about
    max_inflight / throughput each (Little's law: L = lambda x W, all three measured over
    the same window); `factor` x that bounds the p99. Goodput has its own check, so the
    latency check uses the throughput really achieved, not the closed-loop capacity."""
    return factor * 1000 * max_inflight / throughput_rps


def checks(report: dict, args: argparse.Namespace) -> dict[str, bool]:
    o = report["overload"]
    rejected_ok = set(o["rejected"]) <= {"503"}
    return {
        "server_alive": report["server_alive"] and report["serves_after_overload"],
        "goodput_kept": o["goodput_rps"] >= args.min_goodput * report["capacity_rps"],
        "excess_rejected": sum(o["rejected"].values()) > 0,
        "every_rejection_503_with_retry_after": rejected_ok and not o["other_outcomes"],
        "rejections_fast": o["rejected_latency_ms"]["p99"] is not None
        and o["rejected_latency_ms"]["p99"] <= args.max_reject_p99_ms,
        "accepted_p99_within_littles_law": o["accepted"] > 0
        and o["accepted_latency_ms"]["p99"] <= report["little_bound_ms"],
        "rss_growth_bounded": report["rss_during_overload"]["peak_mb"] - report["rss_during_overload"]["start_mb"]
        <= args.max_rss_growth_mb,
        "client_kept_up": o["late_fraction"] <= args.max_late_fraction,
        "machine_steady": report.get("capacity_after_rps") is not None
        and abs(report["capacity_before_rps"] - report["capacity_after_rps"])
        <= args.max_capacity_drift * report["capacity_rps"],
    }


def run(args: argparse.Namespace) -> dict:
    server_cpus, client_cpus = (None, None) if args.no_pin or args.url else split_cpus()
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)  # this process generates the load
    with tempfile.TemporaryDirectory(prefix="overload-") as tmp:
        workdir = Path(tmp)
        target = choose_target(args.repository, args.model, workdir, args.tiny, OVERLOAD_MODELS)
        repository = limited_repository(target, args.queue_size, workdir) if args.url is None else target.repository
        config = read_config(repository, target.model)
        specs = request_specs(config, target.model, args.rows)
        env = {"ORTSERVE_MAX_INFLIGHT_REQUESTS": str(args.max_inflight),
               "ORTSERVE_INTRA_OP_THREADS": str(args.intra_op_threads)}
        with serving(repository, env, url=args.url, pid=args.pid, log_path=log_path_for(workdir),
                     cpus=server_cpus) as server:
            with RssSampler(server.pid, interval_s=0.2) as rss:
                with CpuWindow(server.pid, delay_s=1.0) as capacity_cpu:  # closed()'s 1 s warm-up
                    capacity = closed(server.url, specs, args.max_inflight, args.capacity_s)
                if capacity.ok == 0:
                    raise SystemExit(f"capacity run got no 200 answers: {describe(capacity)}")
                offered = capacity.ok / capacity.elapsed_s * args.factor
                overload_from = rss.mark()
                with CpuWindow(server.pid, delay_s=OPEN_WARMUP_S) as overload_cpu:
                    result = open_loop(server.url, specs, offered, args.duration, connections=args.connections,
                                       warmup_s=OPEN_WARMUP_S)
            alive = server.alive()
            after, after_cpu = None, None
            if alive:  # capacity again: a machine that changed speed meanwhile shows here
                with CpuWindow(server.pid, delay_s=AFTER_WARMUP_S) as after_cpu:
                    after = closed(server.url, specs, args.max_inflight, args.capacity_s, warmup_s=AFTER_WARMUP_S)
        exit_code = server.exit_code()  # stopped with SIGTERM when the block ended
    before_rps = capacity.ok / capacity.elapsed_s
    after_rps = after.ok / after.elapsed_s if after and after.ok else None
    capacity_rps = (before_rps + after_rps) / 2 if after_rps else before_rps
    report = {
        "model": target.model,
        "source": target.source,
        "pinning": {"server_cpus": sorted(server_cpus or []), "client_cpus": sorted(client_cpus or [])}
        if server_cpus else "none (one CPU, --no-pin or an attached server)",
        "rows_per_request": args.rows,
        "limits": {"max_inflight_requests": args.max_inflight, "max_queue_size": args.queue_size or "as configured",
                   "intra_op_threads": args.intra_op_threads, "client_connections": args.connections},
        "capacity_rps": round(capacity_rps, 1),
        "capacity_before_rps": round(before_rps, 1),
        "capacity_after_rps": round(after_rps, 1) if after_rps else None,
        "capacity": describe(capacity),
        "factor": args.factor,
        "offered_rps": round(offered, 1),
        "overload": describe(result),
        "rss": rss.summary(),
        "rss_during_overload": rss.summary(since=overload_from),
        "server_alive": alive,
        "serves_after_overload": bool(after and after.ok),
        "exit_code_after_sigterm": exit_code,
    }
    closed_cpu = capacity_cpu.seconds + (after_cpu.seconds if after and after_cpu else 0.0)
    closed_ok = capacity.ok + (after.ok if after else 0)
    report["server_cpu"] = cpu_split(closed_cpu, closed_ok, overload_cpu.seconds, result, args.factor)
    report["goodput_ratio"] = round(report["overload"]["goodput_rps"] / capacity_rps, 3)
    goodput = report["overload"]["goodput_rps"] or capacity_rps
    report["little_bound_ms"] = round(little_bound_ms(args.max_inflight, goodput, args.little_factor), 1)
    report["little_bound_at_capacity_ms"] = round(little_bound_ms(args.max_inflight, capacity_rps,
                                                                  args.little_factor), 1)
    report["checks"] = checks(report, args)
    report["passed"] = all(report["checks"].values())
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return emit(run(args), args.output)


if __name__ == "__main__":
    sys.exit(main())

