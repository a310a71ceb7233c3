"""scripts.bench_cache_trace: the two copies of bench_cnn, and a quick run against real servers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scripts.bench_cache_trace import CACHED, MODEL, main, repositories, unique_images, zipf_images


def test_the_cache_server_has_bench_cnn_and_a_cached_copy(tmp_path):
    plain, both = repositories(tmp_path)
    assert sorted(p.name for p in plain.iterdir()) == [MODEL]
    assert sorted(p.name for p in both.iterdir()) == [MODEL, CACHED]
    copy = json.loads((both / CACHED / "config.json").read_text())
    original = json.loads((both / MODEL / "config.json").read_text())
    assert copy["name"] == CACHED and copy["response_cache"] == {"enable": True}
    assert "response_cache" not in original and "response_cache" not in json.loads(
        (plain / MODEL / "config.json").read_text())
    assert (both / CACHED / "1" / "model.onnx").read_bytes() == (both / MODEL / "1" / "model.onnx").read_bytes()


def test_the_miss_load_never_repeats_and_the_zipf_load_does():
    images = unique_images(500, seed=3)
    assert len({image.tobytes() for image in images}) == 500
    drawn = zipf_images(2000, 1.1, seed=0)
    assert drawn.shape == (2000, 1, 28, 28) and len({image.tobytes() for image in drawn}) < 360


@pytest.mark.slow
def test_a_quick_run_measures_every_pair_with_the_hit_ratio_it_claims(tmp_path, capsys):
    out = tmp_path / "cache-trace.json"
    assert main(["--rounds", "1", "--duration", "0.5", "--warmup", "0.2", "--concurrency", "8",
                 "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    rows = {(r["server"], r["load_kind"]): r for r in report["rows"]}
    assert set(rows) == {("trace", "off"), ("trace", "rate1000"), ("trace", "all"), ("cache", "uncached"),
                         ("cache", "miss"), ("cache", "hit"), ("cache", "zipf")}
    assert all(r["errors"] == 0 and r["rps"] > 0 for r in rows.values())
    assert rows[("cache", "miss")]["hit_ratio"] == 0.0
    assert rows[("cache", "uncached")]["hit_ratio"] is None  # bench_cnn itself caches nothing
    assert rows[("cache", "hit")]["hit_ratio"] > 0.9  # the warmup's first request is the one miss
    assert set(report["summary"]) == {"rate1000/off", "all/off", "hit/uncached", "miss/uncached", "zipf/uncached"}
    assert json.loads(capsys.readouterr().out) == report["summary"]
    assert np.isfinite(report["summary"]["hit/uncached"]["rps_ratio"])
