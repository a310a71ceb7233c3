"""Percentiles are nearest-rank and merging processes is exact."""

from __future__ import annotations

import numpy as np
import pytest

from scripts.loadtest.stats import PERCENTILES, StepStats, merge, percentile_label, percentiles


def test_percentiles_match_numpy_nearest_rank():
    samples = np.random.default_rng(1).lognormal(mean=-6, sigma=1.0, size=10_001)
    got = percentiles(samples)
    for p in PERCENTILES:
        assert got[percentile_label(p)] == np.percentile(samples, p, method="inverted_cdf")
    assert got["max"] == samples.max()
    assert got["mean"] == pytest.approx(samples.mean())


def test_percentiles_on_known_small_sample():
    # 1..100 ms: nearest rank gives the k-th value for pk, and p99.9 is the max.
    samples = np.arange(1, 101, dtype=float)
    got = percentiles(samples)
    assert (got["p50"], got["p90"], got["p95"], got["p99"], got["p99.9"], got["max"]) == (50, 90, 95, 99, 100, 100)


def test_slow_requests_show_in_the_tail_not_smoothed():
    samples = np.r_[np.full(998, 1.0), 500.0, 500.0]
    got = percentiles(samples)
    assert got["p99"] == 1.0
    assert got["p99.9"] == 500.0  # a latency a request really had, not an interpolation


def test_empty_sample_gives_nan():
    assert all(np.isnan(v) for v in percentiles(np.array([])).values())


def test_merge_of_processes_equals_one_process():
    rng = np.random.default_rng(7)
    parts = []
    for k in range(4):
        s = StepStats(latencies=rng.exponential(0.002, size=1000 + 137 * k), window_start=10.0 + k * 0.01,
                      window_end=15.0 + k * 0.02, nominal_s=5.0, cpu_s=[0.5 * (k + 1)], wall_s=[5.0])
        s.outcomes.update({"200": s.latencies.size, "503": k})
        s.items_ok, s.sent, s.late, s.dropped = s.latencies.size, s.latencies.size + k, k, 2 * k
        parts.append(s)
    merged = merge(parts)
    everything = np.concatenate([p.latencies for p in parts])
    assert percentiles(merged.latencies) == percentiles(everything)
    assert merged.ok == everything.size
    assert merged.errors == {"503": 0 + 1 + 2 + 3}
    assert (merged.late, merged.dropped) == (6, 12)
    assert merged.window_start == 10.0 and merged.window_end == pytest.approx(15.06)
    assert merged.client_cpu_max == pytest.approx(0.4)  # the busiest process, not the sum


def test_throughput_uses_the_window_stretched_by_a_late_drain():
    s = StepStats(latencies=np.full(100, 0.01), window_start=0.0, window_end=2.0, nominal_s=1.0)
    s.items_ok = 400
    summary = s.summary()
    assert summary["throughput_rps"] == pytest.approx(50.0)
    assert summary["items_per_s"] == pytest.approx(200.0)
