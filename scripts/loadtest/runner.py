"""Closed- and open-loop engines: one step, one process, one event loop.

Clock: time.monotonic (CLOCK_MONOTONIC, system-wide on Linux), so windows
measured by several processes can be merged. A step starts at `t0`; requests
whose send time (closed) or intended send time (open) falls in the warm-up are
sent but not recorded. Every loop ends on the step's time limit or request
budget, and in-flight requests are awaited for at most the request timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import resource
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .payloads import RequestSpec
from .schedule import arrival_offsets
from .stats import StepStats
from .transport import ClientPool

# Open loop. The event loop's timers are millisecond-grained (epoll rounds its
# timeout up to 1 ms), so the scheduler wakes up to SEND_AHEAD early and sends
# whatever is due by then; latency counts from min(intended, sent), so an early
# send never shortens a latency and a late one never hides its wait. A send is "late" when it leaves more than
# LATE_TOLERANCE after its intended time: past one timer tick the delay is the
# client falling behind (loop busy, CPU saturated), not timer granularity.
SEND_AHEAD_S = 0.001
LATE_TOLERANCE_S = 0.001
# A request budget (--requests) still gets a time limit, so no step can hang.
DEFAULT_TIME_LIMIT_S = 300.0


@dataclass(frozen=True)
class StepPlan:
    """What one process runs for one step."""

    mode: str  # "closed" | "open"
    concurrency: int = 1  # closed loop: workers in this process
    rate: float = 0.0  # open loop: the TOTAL rate (req/s) over all processes
    arrival: str = "constant"
    share: tuple[int, int] = (0, 1)  # (this process, process count)
    warmup_s: float = 1.0
    duration_s: float | None = 5.0
    requests: int | None = None  # measured-request budget for this process (instead of duration)
    timeout_s: float = 30.0
    max_inflight: int = 1024  # open loop: beyond this, a due request is dropped
    connections: int = 64  # open loop: keep-alive connections; more in flight wait for one (and it counts)
    late_tolerance_s: float = LATE_TOLERANCE_S
    seed: int = 0
    transport: str = "raw"  # "raw" (lean HTTP/1.1), "httpx", or "grpc" (then the target is host:port)

    @property
    def measure_s(self) -> float:
        """Length of the measuring window (the time limit when counting requests)."""
        return self.duration_s if self.duration_s is not None else DEFAULT_TIME_LIMIT_S


class _Recorder:
    """Collects outcomes of measured requests and the client's CPU over the window."""

    def __init__(self, plan: StepPlan, t0: float) -> None:
        # A request budget has no planned length: its throughput is over the span it really took.
        self.stats = StepStats(window_start=t0 + plan.warmup_s, nominal_s=plan.duration_s or 0.0)
        self.latencies: list[float] = []
        self.rejected: list[float] = []
        self.outcomes: Counter = Counter()
        self._cpu0 = self._wall0 = None

    def start_cpu(self) -> None:
        self._cpu0, self._wall0 = _cpu_seconds(), time.monotonic()

    def record(self, outcome: str, started: float, ended: float, items: int) -> None:
        self.outcomes[outcome] += 1
        if outcome == "200":
            self.latencies.append(ended - started)
            self.stats.items_ok += items
        elif outcome[:3] in ("429", "503"):
            self.rejected.append(ended - started)
        self.stats.window_end = max(self.stats.window_end, ended)

    def finish(self) -> StepStats:
        s = self.stats
        s.latencies = np.asarray(self.latencies, dtype=np.float64)
        s.rejected_latencies = np.asarray(self.rejected, dtype=np.float64)
        s.outcomes = self.outcomes
        if self._cpu0 is not None:
            s.cpu_s = [_cpu_seconds() - self._cpu0]
            s.wall_s = [time.monotonic() - self._wall0]
        return s


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _cpu_at(recorder: _Recorder, when: float) -> None:
    await asyncio.sleep(max(0.0, when - time.monotonic()))
    recorder.start_cpu()


async def run_closed(pool: ClientPool, specs: Sequence[RequestSpec], plan: StepPlan, t0: float) -> StepStats:
    """`plan.concurrency` workers, each sending its next request when the last one returns."""
    rec = _Recorder(plan, t0)
    measure_from = t0 + plan.warmup_s
    stop_at = measure_from + plan.measure_s
    budget = itertools.count()  # tickets for measured requests when counting
    cycle = itertools.cycle(specs)
    sent = 0

    async def worker() -> None:
        nonlocal sent
        while True:
            started = time.monotonic()
            if started >= stop_at:
                return
            measured = started >= measure_from
            if measured and plan.requests is not None and next(budget) >= plan.requests:
                return
            spec = next(cycle)
            outcome = await pool.send(spec)
            if measured:
                sent += 1
                rec.record(outcome, started, time.monotonic(), spec.items)

    cpu = asyncio.create_task(_cpu_at(rec, measure_from))
    await asyncio.sleep(max(0.0, t0 - time.monotonic()))
    await asyncio.gather(*(worker() for _ in range(plan.concurrency)))
    cpu.cancel()
    stats = rec.finish()
    stats.sent = sent
    return stats


async def run_open(pool: ClientPool, specs: Sequence[RequestSpec], plan: StepPlan, t0: float) -> StepStats:
    """Send on a fixed schedule whatever the responses do; latency from the intended time."""
    rec = _Recorder(plan, t0)
    stats = rec.stats
    offsets = arrival_offsets(
        plan.rate, plan.arrival, duration_s=plan.warmup_s + plan.measure_s, seed=plan.seed, share=plan.share
    )
    cycle = itertools.cycle(specs)
    inflight: set[asyncio.Task] = set()
    measured_sent = 0

    async def one(spec: RequestSpec, intended: float, measured: bool) -> None:
        # A late send counts from its intended time; an early one (SEND_AHEAD) from its real one.
        started = min(intended, time.monotonic())
        outcome = await pool.send(spec)
        if measured:
            rec.record(outcome, started, time.monotonic(), spec.items)

    cpu = asyncio.create_task(_cpu_at(rec, t0 + plan.warmup_s))
    for offset in offsets:
        intended = t0 + offset
        wait = intended - SEND_AHEAD_S - time.monotonic()
        # Yield even when behind schedule, so the requests already due get sent.
        await asyncio.sleep(max(0.0, wait))
        measured = offset >= plan.warmup_s
        if measured and plan.requests is not None and measured_sent >= plan.requests:
            break
        if len(inflight) >= plan.max_inflight:
            stats.dropped += measured
            continue
        lag = time.monotonic() - intended
        if measured:
            measured_sent += 1
            stats.max_send_lag_s = max(stats.max_send_lag_s, lag)
            stats.late += lag > plan.late_tolerance_s
        task = asyncio.create_task(one(next(cycle), intended, measured))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    if inflight:
        await asyncio.wait(set(inflight), timeout=plan.timeout_s + 1.0)
        for task in inflight:
            task.cancel()
    cpu.cancel()
    result = rec.finish()
    result.sent = measured_sent
    unanswered = measured_sent - sum(result.outcomes.values())
    if unanswered > 0:  # still running after the drain timeout: never silently lost
        result.outcomes["unfinished"] += unanswered
    return result


async def run_plan(base_url: str, specs: Sequence[RequestSpec], plan: StepPlan, t0: float) -> StepStats:
    """Run one step of `plan` in this process, starting at monotonic time `t0`."""
    connections = plan.concurrency if plan.mode == "closed" else min(plan.connections, plan.max_inflight)
    async with ClientPool.open(base_url, connections, plan.timeout_s, plan.transport) as pool:
        engine = run_closed if plan.mode == "closed" else run_open
        stats = await engine(pool, specs, plan, t0)
        stats.reconnects = pool.reconnects
        return stats
