"""Closed and open loops against controlled servers (httpx MockTransport and the fake server)."""

from __future__ import annotations

import asyncio
import time

import httpx
import numpy as np
import pytest

from scripts.loadtest.payloads import RequestSpec
from scripts.loadtest.runner import StepPlan, run_closed, run_open, run_plan
from scripts.loadtest.transport import ClientPool

SPECS = [RequestSpec("/v2/models/m/infer", b'{"inputs": [{"shape": [1]}]}', items=1)]


def mock_pool(handler, connections: int = 64) -> ClientPool:
    """`connections` slots over one mock client (a MockTransport has no connection limit)."""
    return ClientPool([httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://test")] * connections)


def slow_async(delay_s: float):
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(delay_s)
        return httpx.Response(200, content=b"{}")
    return handler


async def test_open_loop_sends_at_the_rate_asked_against_a_real_socket_server(fake_server):
    plan = StepPlan(mode="open", rate=200, warmup_s=0.2, duration_s=1.5)
    stats = await run_plan(fake_server.url, SPECS, plan, time.monotonic() + 0.05)
    assert stats.sent == pytest.approx(300, abs=2)
    assert stats.ok == stats.sent
    assert stats.ok / stats.elapsed_s == pytest.approx(200, rel=0.05)
    arrivals = np.diff(fake_server.state.arrivals[-200:])
    assert arrivals.mean() == pytest.approx(0.005, rel=0.05)  # the server saw 200 req/s


async def test_open_loop_keeps_its_rate_when_the_server_is_slow_and_counts_from_intended_time():
    async with mock_pool(slow_async(0.05)) as pool:
        plan = StepPlan(mode="open", rate=100, warmup_s=0.0, duration_s=1.0)
        stats = await run_open(pool, SPECS, plan, time.monotonic())
    assert stats.sent == 100  # not throttled by 50 ms responses, unlike a closed loop
    assert 0.05 <= np.percentile(stats.latencies, 50) < 0.1


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
    assert stats.ok / stats.elapsed_s == pytest.approx(4 / 0.02, rel=0.15)
    assert stats.latencies.min() >= 0.02


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
    assert calls > stats.ok + 10


async def test_request_budget_stops_the_step():
    async with mock_pool(slow_async(0.001)) as pool:
        plan = StepPlan(mode="closed", concurrency=3, warmup_s=0.0, duration_s=None, requests=50)
        stats = await run_closed(pool, SPECS, plan, time.monotonic())
    assert stats.ok == 50
    assert stats.elapsed_s < 1.0  # throughput over the time the 50 took, not a planned window


async def test_statuses_and_transport_errors_are_counted_apart():
    outcomes = iter([429, 503, 504, "connect", "timeout", 200] * 50)

    async def handler(request: httpx.Request) -> httpx.Response:
        what = next(outcomes)
        if what == "connect":
            raise httpx.ConnectError("refused", request=request)
        if what == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(what)

    async with mock_pool(handler) as pool:
        plan = StepPlan(mode="closed", concurrency=1, warmup_s=0.0, duration_s=None, requests=60)
        stats = await run_closed(pool, SPECS, plan, time.monotonic())
    assert stats.errors == {"429": 10, "503": 10, "504": 10, "connect_error": 10, "timeout": 10}
    assert stats.ok == 10


async def test_waiting_for_a_free_connection_counts_in_open_loop_latency():
    async with mock_pool(slow_async(0.05), connections=1) as pool:
        plan = StepPlan(mode="open", rate=40, warmup_s=0.0, duration_s=0.5)
        stats = await run_open(pool, SPECS, plan, time.monotonic())
    assert stats.ok == 20
    # One connection serves 20 per second while 40 arrive: the queue grows by ~25 ms a request.
    assert stats.latencies.max() > 0.4
