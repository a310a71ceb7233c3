"""The overload drill, short: 5x capacity against a real server process for a few seconds."""

from __future__ import annotations

import pytest

from scripts.reliability import overload

pytestmark = pytest.mark.slow


def test_overload_rejects_excess_early_and_keeps_serving():
    args = overload.parse_args(["--tiny", "--capacity-s", "1.5", "--duration", "3", "--factor", "5"])
    report = overload.run(args)
    o = report["overload"]
    rejected = sum(r["count"] for r in o["rejected"].values())
    assert report["server_alive"] and report["serves_after_overload"], report
    assert report["exit_code_after_sigterm"] in (0, -15)
    assert o["sent"] >= 0.8 * report["offered_rps"] * 3  # the client really offered ~5x
    assert rejected > 0, o
    assert all(r["with_retry_after"] == r["count"] for r in o["rejected"].values()), o
    assert not o["other_outcomes"], f"5xx other than 503, or transport errors: {o['other_outcomes']}"
    assert o["accepted"] > 0
    # Twice the script's own Little's-law bound: CI neighbours may slow the machine mid-run.
    assert o["accepted_latency_ms"]["p99"] <= 2 * report["p99_bound_ms"], o
    # Rejections are cheap: answered well before accepted work.
    assert o["rejected_latency_ms"]["p50"] < o["accepted_latency_ms"]["p50"]
    assert report["rss_during_overload"]["peak_mb"] - report["rss_during_overload"]["start_mb"] < 100
