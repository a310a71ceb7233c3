"""scripts.bench_triton_tools: its model, and a quick run of every comparison against real servers."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from scripts.bench_triton_tools import ELEMENTS, main, reduce_repository


def test_the_reduce_model_sums_a_4_mib_input(tmp_path):
    session = ort.InferenceSession(str(reduce_repository(tmp_path) / "reduce" / "1" / "model.onnx"))
    x = np.random.default_rng(1).random((1, ELEMENTS), dtype=np.float32)
    assert x.nbytes == 4 * 1024 * 1024
    (s,) = session.run(None, {"x": x})
    assert s.shape == (1, 1) and abs(float(s[0, 0]) - float(x.astype(np.float64).sum())) < 1e-3 * float(x.sum())
    config = json.loads((tmp_path / "reduce" / "config.json").read_text())
    assert config["input"] == [{"name": "x", "datatype": "FP32", "dims": [ELEMENTS]}]


@pytest.mark.slow
def test_a_quick_run_writes_every_comparison(tmp_path, capsys):
    assert main(["--rounds", "1", "--requests", "20", "--seconds", "0.3", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "triton_tools.json").read_text())
    assert set(report["summary"]) == {"shm", "stream", "tools"}
    for part, sides in (("shm", ("shm", "binary")), ("stream", ("streaming", "unary")),
                        ("tools", ("perf_analyzer", "ortserve-loadtest"))):
        for side in sides:
            assert report["summary"][part][side]["requests"] > 0 and report[part][side][0]["loadavg_before"] >= 0
        assert report["summary"][part]["cpu_ratio"] >= 0  # CPU is read in 10 ms ticks: a short side may read 0
    assert report["shm"]["shm"][0]["requests"] == 20  # every request checked its answer, the sum of the 4 MiB
    # 20 requests of 4 MiB: the body costs the server ticks of CPU that the region saves.
    assert report["summary"]["shm"]["shm"]["server_cpu_us_per_request"] < \
        report["summary"]["shm"]["binary"]["server_cpu_us_per_request"]
    assert json.loads(capsys.readouterr().out) == report["summary"]
