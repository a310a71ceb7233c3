"""Spreading a step over processes: the split, and a real two-process run."""

from __future__ import annotations

from scripts.loadtest.metrics_diff import MetricsScraper
from scripts.loadtest.parallel import run_async, run_step, split_plan
from scripts.loadtest.payloads import RequestSpec
from scripts.loadtest.runner import StepPlan

SPECS = [RequestSpec("/v2/models/digits/infer", b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}')]


def test_closed_loop_concurrency_is_divided_without_empty_processes():
    parts = split_plan(StepPlan(mode="closed", concurrency=10, requests=101), 4)
    assert [p.concurrency for p in parts] == [3, 3, 2, 2]
    assert sum(p.requests for p in parts) == 101
    assert len(split_plan(StepPlan(mode="closed", concurrency=2), 4)) == 2


def test_open_loop_rate_is_shared():
    parts = split_plan(StepPlan(mode="open", rate=900, max_inflight=30), 3)
    assert [p.share for p in parts] == [(0, 3), (1, 3), (2, 3)]
    assert all(p.rate == 900 and p.max_inflight == 10 for p in parts)


async def test_two_processes_merge_into_one_result_with_the_servers_view(fake_server):
    plan = StepPlan(mode="open", rate=100, warmup_s=0.3, duration_s=1.0)
    stats, server = await run_step(fake_server.url, SPECS, plan, processes=2,
                                   scraper=MetricsScraper(fake_server.url, "digits"))
    assert len(stats.cpu_s) == 2  # one CPU figure per process
    assert stats.sent == 100 and stats.ok == 100
    # The parent scrapes at the end of the warm-up: about the same 100 requests (the
    # scrape can slip a little on a busy machine, so only the order of magnitude is checked).
    assert 50 < server["server_requests"] < fake_server.state.success["digits"]


def test_run_async_works_without_uvloop():
    async def answer():
        return 42
    assert run_async(answer(), use_uvloop=False) == 42
