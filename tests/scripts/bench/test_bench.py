"""Benchmark pieces: CPU split, ratios and tables, and one quick run against the real service."""

from __future__ import annotations

import json
import math
import os

import pytest

from scripts.bench.__main__ import main
from scripts.bench.machine import split_cpus
from scripts.bench.markdown import beyond_ort_ms, ratios, render
from scripts.bench.matrix import formed_batch_sizes


def _served(batching, payload, level, items, p50, batch=1.0):
    return {"batching": batching, "payload": payload, "level": level, "items_per_s": items, "throughput_rps": items,
            "p50_ms": p50, "p99_ms": 2 * p50, "errors_total": 0, "mean_batch_size": batch, "client_cpu": 0.5}


SERVED = [
    _served(True, "binary", 1, 1000, 1.0), _served(True, "binary", 64, 8000, 8.0, batch=7.6),
    _served(True, "json", 64, 4000, 16.0, batch=7.0),
    _served(False, "binary", 1, 1100, 0.9), _served(False, "binary", 64, 2000, 30.0),
]
ORT = [{"batch": 1, "items_per_s": 5000.0, "p50_ms": 0.2, "p99_ms": 0.3},
       {"batch": 8, "items_per_s": 10000.0, "p50_ms": 0.8, "p99_ms": 1.0},
       {"batch": 64, "items_per_s": 20000.0, "p50_ms": 3.2, "p99_ms": 4.0}]


def test_ratios_compare_like_with_like():
    r = ratios(SERVED, ORT, (1, 64))
    assert r["formed_batch"] == 8
    assert r["served_over_raw_formed"] == pytest.approx(0.8)
    assert r["served_over_raw_max_batch"] == pytest.approx(0.4)
    assert r["batching_on_over_off"] == pytest.approx(4.0)
    assert r["binary_over_json"] == pytest.approx(2.0)
    assert r["p50_low_batched_minus_unbatched_ms"] == pytest.approx(0.1)


def test_missing_steps_give_nan_not_a_crash():
    r = ratios(SERVED[:1], [], (1, 64))
    assert math.isnan(r["served_over_raw_formed"]) and math.isnan(r["p50_low_batched_minus_unbatched_ms"])


def test_formed_batch_sizes_come_from_batched_steps_only():
    assert formed_batch_sizes(SERVED) == [1, 7, 8]


def test_markdown_states_machine_targets_and_verdicts():
    doc = {"machine": {"cpu_model": "Test CPU", "logical_cpus": 2, "usable_cpus": [0, 1], "onnxruntime": "1.x",
                       "python": "3.11", "load_average_at_start": [0.1, 0.1, 0.1]},
           "settings": {"pinning": "server on CPU [0]", "threads": 1, "duration_s": 5, "warmup_s": 1,
                        "ort_seconds": 2, "processes": 1, "command": "python -m scripts.bench"},
           "models": {"digits": {"data": "digits", "served": SERVED, "ort": ORT, "ratios": ratios(SERVED, ORT, (1, 64))}}}
    text = render(doc)
    assert "Test CPU" in text and "onnxruntime 1.x" in text and "server on CPU [0]" in text
    assert "| 80.0% | >= 80% | met |" in text
    assert "| +0.100 ms | <= 0.3 ms | met |" in text
    assert "| server CPU ms/req | beyond ORT ms/req |" in text


def test_cpu_beyond_ort_subtracts_raw_ort_at_the_formed_batch():
    # Batch 8 formed: ORT does 10,000 items/s there, 0.1 ms per item; one item per request.
    row = {**SERVED[1], "server_cpu_ms": 0.35}
    assert beyond_ort_ms(row, ORT) == pytest.approx(0.25)
    # Batching off runs batch 1: 0.2 ms per item.
    assert beyond_ort_ms({**SERVED[3], "server_cpu_ms": 0.5}, ORT) == pytest.approx(0.3)
    # Two items per request cost ORT twice as much.
    assert beyond_ort_ms({**SERVED[3], "server_cpu_ms": 0.5, "items_per_s": 2200}, ORT) == pytest.approx(0.1)
    assert math.isnan(beyond_ort_ms(SERVED[1], ORT))  # no CPU figure (server on another host)


def test_the_benchmark_cnn_is_resnet_sized_and_runs(tmp_path):
    import numpy as np
    import onnxruntime as ort

    from scripts.bench import cnn

    reference = tmp_path / "reference"
    (reference / "digits").mkdir(parents=True)
    (reference / "digits" / "config.json").write_text("{}")
    repo = cnn.overlay_repository(reference, tmp_path / "repo")
    assert (repo / "digits").is_symlink() and (repo / "digits" / "config.json").is_file()
    config = json.loads((repo / "bench_cnn" / "config.json").read_text())
    assert config["input"][0]["dims"] == [1, 28, 28] and config["max_batch_size"] == 64
    _, parameters = cnn.build()
    assert 280_000 <= parameters <= 320_000
    session = ort.InferenceSession(str(repo / "bench_cnn" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    logits = session.run(None, {"image": x})[0]
    assert logits.shape == (3, 10) and np.isfinite(logits).all()
    # Seeded: the same weights, so the same answers, every time it is built.
    again = cnn.build()[0]
    assert again.graph.initializer[0].raw_data == cnn.build()[0].graph.initializer[0].raw_data


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_cpus_are_split_between_server_and_client():
    server, client, _note = split_cpus("on")
    assert server and client and not server & client
    assert split_cpus("off")[:2] == (None, None)


@pytest.mark.slow
def test_quick_benchmark_against_the_real_service(served_repo, tmp_path, capsys):
    code = main(["--repository", str(served_repo), "--models", "digits", "--quick", "--duration", "0.3",
                 "--warmup", "0.1", "--ort-seconds", "0.1", "--concurrency", "1,4", "--protocol", "http,grpc",
                 "--out", str(tmp_path)])
    assert code == 0
    doc = json.loads((tmp_path / "bench.json").read_text())
    digits = doc["models"]["digits"]
    assert len(digits["served"]) == 2 * 3 * 2  # batching on/off x json/binary/grpc x c=1,4
    assert {s["payload"] for s in digits["served"]} == {"json", "binary", "grpc"}
    assert all(s["requests_ok"] > 0 and s["errors_total"] == 0 for s in digits["served"])
    assert {o["batch"] for o in digits["ort"]} >= {1, 64}
    assert "sklearn load_digits" in digits["data"]
    assert "## digits" in (tmp_path / "bench.md").read_text()


def test_the_bench_asks_for_what_a_client_reads():
    from scripts.bench.__main__ import client_outputs

    assert client_outputs({"postprocessing": {"output": "probabilities"}}) == ["probabilities"]
    assert client_outputs({"postprocessing": {}}) is None and client_outputs({}) is None
