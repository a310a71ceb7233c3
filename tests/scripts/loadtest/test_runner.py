"""Closed and open loops against controlled servers (httpx MockTransport and the fake server)."""

from __future__ import annotations

import asyncio
import time

import httpx
import numpy as np
import pytest

from scripts.loadtest.payloads import RequestSpec
from scripts.loadtest.runner import SEND_AHEAD_S, StepPlan, run_closed, run_open, run_plan
from scripts.loadtest.schedule import arrival_offsets
from scripts.loadtest.transport import ClientPool, HttpxConnection

SPECS = [RequestSpec("/v2/models/m/infer", b'{"inputs": [{"shape": [1]}]}', items=1)]


def mock_pool(handler, connections: int = 64) -> ClientPool:
    """`connections` slots over one mock client (a MockTransport has no connection limit)."""
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://test")
    return ClientPool([HttpxConnection(client)] * connections)


def slow_async(delay_s: float):
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(delay_s)
        return httpx.Response(200, content=b"{}")
    return handler


@pytest.mark.parametrize("transport", ["raw", "httpx"])
async def test_open_loop_sends_the_schedule_never_early_against_a_real_socket_server(fake_server, transport):
    # Invariants that hold however loaded the machine is: the count comes from the
    # schedule, and no request reaches the server before its intended time (minus
    # the timer slack). Being *late* depends on the machine; the tool reports it,
    # and test_sends_delayed_by_a_busy_client checks that report.
    plan = StepPlan(mode="open", rate=200, warmup_s=0.2, duration_s=1.5, transport=transport)
    t0 = time.monotonic() + 0.05
    stats = await run_plan(fake_server.url, SPECS, plan, t0)
    assert stats.sent == 300
    assert stats.ok == stats.sent
    assert stats.elapsed_s >= 1.5
    intended = t0 + np.fromiter(arrival_offsets(200, duration_s=1.7), dtype=np.float64)
    arrivals = np.sort(fake_server.state.arrivals)  # warm-up included: 340 in all
    assert len(arrivals) == len(intended) == 340
    # Sorted k-th arrival vs k-th intended time: each request leaves at or after its own.
    assert np.all(arrivals >= intended - SEND_AHEAD_S), (arrivals - intended).min()
    assert stats.reconnects == 0


async def test_sends_delayed_by_a_busy_client_are_late_and_their_wait_is_in_the_latency():
    def blocking(request: httpx.Request) -> httpx.Response:
        time.sleep(0.02)  # blocks the client's own event loop: the sender falls behind
        return httpx.Response(200, content=b"{}")

    async with mock_pool(blocking) as pool:
        plan = StepPlan(mode="open", rate=100, warmup_s=0.0, duration_s=0.5)
        stats = await run_open(pool, SPECS, plan, time.monotonic())
    assert stats.late >= stats.sent // 2
    assert stats.max_send_lag_s > 0.05
    # wrk2-style: later requests waited for the client, and that wait is counted.
    assert stats.latencies.max() > 0.1


async def test_requests_beyond_the_inflight_cap_are_dropped_not_sent():
    async with mock_pool(slow_async(1.0)) as pool:
        plan = StepPlan(mode="open", rate=100, warmup_s=0.0, duration_s=0.5, max_inflight=5)
        stats = await run_open(pool, SPECS, plan, time.monotonic())
    assert stats.sent == 5
    assert stats.dropped == 45


async def test_closed_loop_throughput_is_concurrency_over_latency():
    async with mock_pool(slow_async(0.02)) as pool:
        plan = StepPlan(mode="closed", concurrency=4, warmup_s=0.1, duration_s=1.0)
        stats = await run_closed(pool, SPECS, plan, time.monotonic())
    throughput = stats.ok / stats.elapsed_s
    assert stats.latencies.min() >= 0.02
    # Never more than concurrency / service time, and Little's law ties the two
    # reports together however slow the machine is (no think time between requests).
    assert throughput <= 4 / 0.02 * 1.02
    assert throughput == pytest.approx(4 / stats.latencies.mean(), rel=0.1)


async def test_warmup_requests_are_not_recorded():
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return httpx.Response(200)

    async with mock_pool(handler) as pool:
        plan = StepPlan(mode="closed", concurrency=1, warmup_s=0.3, duration_s=0.3)
        stats = await run_closed(pool, SPECS, plan, time.monotonic())
    assert stats.ok > 0
    assert calls >= stats.ok + 5  # ~30 warm-up calls were sent and not recorded


async def test_request_budget_stops_the_step():
    async with mock_pool(slow_async(0.001)) as pool:
        plan = StepPlan(mode="closed", concurrency=3, warmup_s=0.0, duration_s=None, requests=50)
        before = time.monotonic()
        stats = await run_closed(pool, SPECS, plan, time.monotonic())
        took = time.monotonic() - before
    assert stats.ok == 50
    # Throughput over the time the 50 took, not a planned window: within what the call itself took.
    assert 0 < stats.elapsed_s <= took


async def test_statuses_and_transport_errors_are_counted_apart():
    outcomes = iter([429, 503, 504, "connect", "timeout", 200] * 50)

    async def handler(request: httpx.Request) -> httpx.Response:
        what = next(outcomes)
        if what == "connect":
            raise httpx.ConnectError("refused", request=request)
        if what == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(what, headers={"retry-after": "1"} if what == 503 else {})

    async with mock_pool(handler) as pool:
        plan = StepPlan(mode="closed", concurrency=1, warmup_s=0.0, duration_s=None, requests=60)
        stats = await run_closed(pool, SPECS, plan, time.monotonic())
    # A rejection that does not say when to retry is counted apart.
    assert stats.errors == {"429_no_retry_after": 10, "503": 10, "504": 10, "connect_error": 10, "timeout": 10}
    assert stats.ok == 10
    assert stats.rejected_latencies.size == 20  # how fast both kinds of rejection came back


async def test_waiting_for_a_free_connection_counts_in_open_loop_latency():
    async with mock_pool(slow_async(0.05), connections=1) as pool:
        plan = StepPlan(mode="open", rate=40, warmup_s=0.0, duration_s=0.5)
        stats = await run_open(pool, SPECS, plan, time.monotonic())
    assert stats.ok == 20
    # One connection serves 20 per second while 40 arrive: the queue grows by ~25 ms a request.
    assert stats.latencies.max() > 0.4
