"""The server-side breakdown: parsing, filtering by model, formulas, and a live difference."""

from __future__ import annotations

import math
import os
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from scripts.loadtest.metrics_diff import (
    SERVER_CPU,
    MetricsScraper,
    breakdown,
    diff,
    parse_metrics,
    process_cpu_seconds,
    step_breakdown,
)

from .conftest import COMPUTE_US, QUEUE_US, REQUEST_US, ROWS_PER_EXEC


def _registry_text(ok: dict[str, int]) -> str:
    """Exposition text as prometheus_client writes it (counters get _total)."""
    r = CollectorRegistry()
    success = Counter("nv_inference_request_success", "ok", ("model", "version"), registry=r)
    failure = Counter("nv_inference_request_failure", "bad", ("model", "version", "reason"), registry=r)
    compute = Histogram("ortserve_compute_duration_seconds", "per batch", ("model", "version"), registry=r)
    for model, n in ok.items():
        success.labels(model, "1").inc(n)
        failure.labels(model, "1", "timeout").inc(2)
        failure.labels(model, "1", "queue_full").inc(1)
        for _ in range(n):
            compute.labels(model, "1").observe(0.004)
    return generate_latest(r).decode()


def test_parse_sums_only_the_model_asked_for_and_strips_total():
    snap = parse_metrics(_registry_text({"digits": 5, "text": 7}), "digits")
    assert snap["nv_inference_request_success"] == 5
    assert snap["nv_inference_request_failure"] == 3
    assert snap["nv_inference_request_failure{timeout}"] == 2
    assert snap["ortserve_compute_duration_seconds_count"] == 5
    assert not any(k.endswith("_created") for k in snap)


def test_parse_filters_by_version_when_given():
    text = 'nv_inference_count{model="m",version="1"} 3\nnv_inference_count{model="m",version="2"} 10\n'
    assert parse_metrics(text, "m")["nv_inference_count"] == 13
    assert parse_metrics(text, "m", "2")["nv_inference_count"] == 10


def test_breakdown_uses_the_contract_formulas():
    delta = {
        "nv_inference_request_success": 100, "nv_inference_count": 400, "nv_inference_exec_count": 50,
        "nv_inference_queue_duration_us": 20_000, "nv_inference_compute_infer_duration_us": 50_000,
        "nv_inference_request_duration_us": 90_000,
        "ortserve_compute_duration_seconds_sum": 0.1, "ortserve_compute_duration_seconds_count": 50,
    }
    out = breakdown(delta)
    assert out["server_queue_ms"] == pytest.approx(0.2)
    assert out["server_compute_ms"] == pytest.approx(0.5)
    assert out["server_request_ms"] == pytest.approx(0.9)
    assert out["mean_batch_size"] == pytest.approx(8.0)
    assert out["batch_compute_ms"] == pytest.approx(2.0)
    assert math.isnan(out["server_cpu_ms"])  # no pid, no CPU figure
    assert breakdown({**delta, SERVER_CPU: 0.03})["server_cpu_ms"] == pytest.approx(0.3)


def test_process_cpu_seconds_reads_this_process_from_proc():
    before = process_cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:  # burn 50 ms of CPU
        pass
    assert process_cpu_seconds(os.getpid()) - before == pytest.approx(0.05, abs=0.03)


def test_breakdown_without_traffic_is_nan_not_an_error():
    out = breakdown(diff({}, {}))
    assert math.isnan(out["server_queue_ms"]) and math.isnan(out["mean_batch_size"])


async def test_difference_against_a_server_with_known_traffic(fake_server):
    scraper = MetricsScraper(fake_server.url, "digits")
    body = b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}'
    async with httpx.AsyncClient(base_url=fake_server.url) as client:
        await client.post("/v2/models/digits/infer", content=body)  # before the window: excluded
        before = await scraper.snapshot()
        for _ in range(10):
            await client.post("/v2/models/digits/infer", content=body)
        for _ in range(5):
            await client.post("/v2/models/other/infer", content=body)  # another model: filtered out
        after = await scraper.snapshot()
    out = step_breakdown(before, after)
    assert out["server_requests"] == 10
    assert out["server_queue_ms"] == pytest.approx(QUEUE_US / 1000)
    assert out["server_compute_ms"] == pytest.approx(COMPUTE_US / 1000)
    assert out["server_request_ms"] == pytest.approx(REQUEST_US / 1000)
    assert out["mean_batch_size"] == pytest.approx(ROWS_PER_EXEC)


async def test_an_unreachable_metrics_endpoint_gives_no_breakdown_and_says_why():
    scraper = MetricsScraper("http://127.0.0.1:9", "digits", timeout_s=1)
    assert await scraper.snapshot() is None
    assert "127.0.0.1:9/metrics" in scraper.error
    assert step_breakdown(None, {}) == {}
