"""The served half of the benchmark: each payload at each concurrency, per server.

The service is started twice over the whole repository (batching on, then
off); every model is measured against each. The load comes from the load-test
client's own engine (scripts.loadtest), in this process, which the caller may
have pinned to the client's CPUs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from scripts.loadtest.grpc_transport import PAYLOAD as GRPC_PAYLOAD
from scripts.loadtest.metrics_diff import MetricsScraper
from scripts.loadtest.parallel import run_async, run_step
from scripts.loadtest.payloads import RequestSpec
from scripts.loadtest.report import step_row
from scripts.loadtest.runner import StepPlan
from scripts.loadtest.sweep import probe_target

from ..launcher import ServerProcess


@dataclass(frozen=True)
class MatrixPlan:
    payloads: tuple[str, ...] = ("json", "binary")
    concurrencies: tuple[int, ...] = (1, 16, 64)
    duration_s: float = 5.0
    warmup_s: float = 1.0
    processes: int = 1
    timeout_s: float = 30.0


def start_server(repository: Path, batching: bool, *, server_cpus: set[int] | None, threads: int,
                 log_dir: Path | None = None) -> ServerProcess:
    """The service over the whole repository, batching on or off (ORTSERVE_DISABLE_BATCHING)."""
    env = {"ORTSERVE_DISABLE_BATCHING": "false" if batching else "true"}
    if threads:
        env["ORTSERVE_INTRA_OP_THREADS"] = str(threads)
    log = log_dir / f"server-batching-{'on' if batching else 'off'}.log" if log_dir else None
    return ServerProcess(repository, env=env, cpus=server_cpus, log_path=log, grpc=True)


def served_rows(url: str, model: str, specs: dict[str, list[RequestSpec]], plan: MatrixPlan, *, batching: bool,
                progress=None, grpc_target: str | None = None, server_pid: int | None = None) -> list[dict]:
    """One row per (payload, concurrency) against a running server; payload `grpc` goes to grpc_target.
    With `server_pid`, each row also has the server's CPU per request (`server_cpu_ms`, from /proc)."""
    rows = []
    scraper = MetricsScraper(url, model, pid=server_pid)
    for payload in plan.payloads:
        grpc = payload == GRPC_PAYLOAD
        target = grpc_target if grpc else url
        if target is None:
            raise ValueError("the grpc payload needs the server's gRPC target")
        probe_target(target, specs[payload][0], plan.timeout_s)
        for concurrency in plan.concurrencies:
            step = StepPlan(mode="closed", concurrency=concurrency, warmup_s=plan.warmup_s,
                            duration_s=plan.duration_s, timeout_s=plan.timeout_s,
                            transport="grpc" if grpc else "raw")
            stats, server_side = run_async(
                run_step(target, specs[payload], step, processes=plan.processes, scraper=scraper)
            )
            row = step_row(stats, server_side, model=model, batching=batching, payload=payload, mode="closed",
                           level=concurrency)
            rows.append(row)
            if progress is not None:
                progress(row)
    return rows


def pick(rows: list[dict], *, batching: bool, payload: str, level: int) -> dict | None:
    return next((r for r in rows if (r["batching"], r["payload"], r["level"]) == (batching, payload, level)), None)


def formed_batch_sizes(rows: list[dict]) -> list[int]:
    """The mean batch sizes the server formed with batching on, rounded: where to measure raw ORT."""
    sizes = {
        max(1, round(size)) for r in rows
        if r["batching"] and isinstance(size := r.get("mean_batch_size"), float) and math.isfinite(size)
    }
    return sorted(sizes)
