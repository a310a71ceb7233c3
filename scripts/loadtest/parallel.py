"""Run one step in this process or spread over N processes, with /metrics around it.

A Python client tops out at a few hundred requests per second per core, so
`--processes N` splits the load: closed-loop concurrency is divided among the
processes, an open-loop rate is split by `share` (see schedule.py). Processes
are started with `spawn`, get ready (imports, event loop), then all start the
step at one agreed monotonic time; their StepStats merge exactly (stats.merge).
The /metrics snapshots are taken by this (parent) process at the end of the
warm-up and after the last measured response, so both modes measure the same
window on the server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing as mp
import queue
import time
from collections.abc import Callable, Sequence

from .metrics_diff import MetricsScraper, step_breakdown
from .payloads import RequestSpec
from .runner import StepPlan, run_plan
from .stats import StepStats, merge

START_DELAY_S = 0.2  # between "everyone ready" and t0
READY_TIMEOUT_S = 60.0  # a spawned child imports numpy and httpx: seconds, not minutes


def run_async(coro, use_uvloop: bool = True):
    """asyncio.run on uvloop when it is installed (cheaper per request), else the default loop."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(coro)
    return asyncio.run(coro)


def split_plan(plan: StepPlan, processes: int) -> list[StepPlan]:
    """Each process's part of `plan`; a closed loop never gets a process with 0 workers."""
    if processes <= 1:
        return [plan]
    if plan.mode == "closed":
        n = min(processes, plan.concurrency)
        shares = [plan.concurrency // n + (k < plan.concurrency % n) for k in range(n)]
        return [
            dataclasses.replace(plan, concurrency=c, requests=_part(plan.requests, k, n), seed=plan.seed + k)
            for k, c in enumerate(shares)
        ]
    n = processes
    return [
        dataclasses.replace(
            plan, share=(k, n), max_inflight=max(1, plan.max_inflight // n),
            connections=max(1, plan.connections // n), requests=_part(plan.requests, k, n),
        )
        for k in range(n)
    ]


def _part(total: int | None, k: int, n: int) -> int | None:
    return None if total is None else total // n + (k < total % n)


def _child(base_url, specs, plan, use_uvloop, ready, start, t0_value, results) -> None:
    """Entry point of a spawned worker: wait for the common start, run, send stats back."""
    ready.put(True)
    start.wait()
    try:
        results.put(run_async(run_plan(base_url, specs, plan, t0_value.value), use_uvloop))
    except BaseException as exc:  # the parent must hear about every child
        results.put(exc)


async def _scrape_at(scraper: MetricsScraper | None, when: float):
    return None if scraper is None else await scraper.snapshot(at=when)


async def _ticker(progress: Callable[[float], None] | None, t0: float) -> None:
    while progress is not None:
        progress(max(0.0, time.monotonic() - t0))
        await asyncio.sleep(0.25)


async def _in_process(base_url: str, specs, plan: StepPlan, on_start) -> StepStats:
    t0 = time.monotonic() + 0.01
    on_start(t0)
    return await run_plan(base_url, specs, plan, t0)


async def _in_children(base_url: str, specs, plans: list[StepPlan], use_uvloop: bool, on_start) -> StepStats:
    ctx = mp.get_context("spawn")
    ready, results, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    t0_value = ctx.Value("d", 0.0)
    children = [
        ctx.Process(target=_child, args=(base_url, specs, p, use_uvloop, ready, start, t0_value, results), daemon=True)
        for p in plans
    ]
    for child in children:
        child.start()
    loop = asyncio.get_running_loop()
    plan = plans[0]
    limit = plan.warmup_s + plan.measure_s + plan.timeout_s + READY_TIMEOUT_S
    try:
        for _ in children:
            await loop.run_in_executor(None, ready.get, True, READY_TIMEOUT_S)
        t0_value.value = time.monotonic() + START_DELAY_S
        start.set()
        on_start(t0_value.value)
        parts = [await loop.run_in_executor(None, results.get, True, limit) for _ in children]
    except queue.Empty:
        raise RuntimeError("a load-generating process did not report in time") from None
    finally:
        for child in children:
            child.join(timeout=5)
            if child.is_alive():
                child.terminate()
    failed = [p for p in parts if isinstance(p, BaseException)]
    if failed:
        raise RuntimeError(f"a load-generating process failed: {failed[0]!r}") from failed[0]
    return merge(parts)


async def run_step(
    base_url: str,
    specs: Sequence[RequestSpec],
    plan: StepPlan,
    *,
    processes: int = 1,
    scraper: MetricsScraper | None = None,
    progress: Callable[[float], None] | None = None,
    use_uvloop: bool = True,
) -> tuple[StepStats, dict]:
    """Run one step; return the merged client stats and the server-side breakdown."""
    plans = split_plan(plan, processes)
    watchers: list[asyncio.Task] = []

    def on_start(t0: float) -> None:  # once the common start time is fixed
        watchers.append(asyncio.create_task(_scrape_at(scraper, t0 + plan.warmup_s)))
        watchers.append(asyncio.create_task(_ticker(progress, t0)))

    try:
        if len(plans) == 1:
            stats = await _in_process(base_url, specs, plans[0], on_start)
        else:
            stats = await _in_children(base_url, specs, plans, use_uvloop, on_start)
    except BaseException:
        for task in watchers:
            task.cancel()
        raise
    scrape_before, ticker = watchers
    ticker.cancel()
    snapshot_before = await scrape_before
    snapshot_after = await scraper.snapshot() if scraper is not None else None
    return stats, step_breakdown(snapshot_before, snapshot_after)
