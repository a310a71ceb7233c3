"""Triton's ways in, side by side in one run: `python -m scripts.bench_triton_tools`.

Three comparisons, each run in alternating rounds so background load on a shared
machine hits both sides alike, each with the server's CPU per request (utime + stime
from /proc over the requests the server counted) and the load average before it:

- shm: a 4 MiB FP32 input through a registered shared-memory region against the same
  input in the binary extension's body (a ReduceSum model, so the model's own work is
  small and equal); sequential requests over one keep-alive connection.
- stream: perf_analyzer at concurrency 16 over gRPC, unary ModelInfer against
  ModelStreamInfer (--streaming), on digits_lenet.
- tools: perf_analyzer (-i http) against ortserve-loadtest (binary) at the same
  concurrency, on digits_lenet: the table in docs/load-testing.md.

Writes triton_tools.json to --out and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
from onnx import TensorProto, helper

from scripts.bench_workers import group_cpu_s
from scripts.launcher import PROJECT_ROOT, ServerProcess

PERF_ANALYZER = PROJECT_ROOT / "scripts" / "perf_analyzer.sh"
REFERENCE = PROJECT_ROOT / "models" / "repository"
ELEMENTS = 1 << 20  # 4 MiB of FP32
HEADER = "Inference-Header-Content-Length"


def reduce_repository(root: Path) -> Path:
    """reduce: s = sum(x) over a [batch, 2**20] FP32 input: 4 MiB in, 4 bytes out."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", ELEMENTS])
    s = helper.make_tensor_value_info("s", TensorProto.FLOAT, ["batch", 1])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    graph = helper.make_graph([helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=1)], "reduce", [x], [s],
                              initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    (root / "reduce" / "1").mkdir(parents=True)
    onnx.save(model, str(root / "reduce" / "1" / "model.onnx"))
    config = {"name": "reduce", "max_batch_size": 1, "input": [{"name": "x", "datatype": "FP32", "dims": [ELEMENTS]}],
              "output": [{"name": "s", "datatype": "FP32", "dims": [1]}]}
    (root / "reduce" / "config.json").write_text(json.dumps(config))
    return root


def served(server: ServerProcess) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return sum(float(v) for v in re.findall(r"^nv_inference_request_success\{[^}]*\} (\S+)$", text, re.MULTILINE))


def measured(server: ServerProcess, step: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one step; add the server's CPU per request it counted, and the load average before."""
    load = os.getloadavg()[0]
    cpu0, n0, t0 = group_cpu_s(server.pid), served(server), time.perf_counter()
    result = step()
    cpu, n = group_cpu_s(server.pid) - cpu0, served(server) - n0
    wall = time.perf_counter() - t0
    return {**result, "requests": n, "wall_s": wall, "wall_ms_per_request": 1e3 * wall / max(n, 1),
            "server_cpu_us_per_request": 1e6 * cpu / max(n, 1), "loadavg_before": load}


def shared_memory_rounds(rounds: int, requests: int) -> dict[str, list[dict[str, Any]]]:
    x = np.random.default_rng(0).random((1, ELEMENTS), dtype=np.float32)
    expected = float(x.astype(np.float64).sum())
    header = json.dumps({"inputs": [{"name": "x", "shape": [1, ELEMENTS], "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}]}).encode()
    region = shared_memory.SharedMemory(name=f"ortserve-bench-{uuid.uuid4().hex}", create=True, size=x.nbytes)
    np.ndarray(x.shape, np.float32, buffer=region.buf)[:] = x
    shm_body = {"inputs": [{"name": "x", "shape": [1, ELEMENTS], "datatype": "FP32",
                            "parameters": {"shared_memory_region": "x", "shared_memory_byte_size": x.nbytes}}]}
    out: dict[str, list[dict[str, Any]]] = {"binary": [], "shm": []}
    with tempfile.TemporaryDirectory() as scratch, ServerProcess(
            reduce_repository(Path(scratch)), env={"ORTSERVE_SYSTEM_SHARED_MEMORY": "true"}) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        client.post("/v2/systemsharedmemory/region/x/register",
                    json={"key": "/" + region.name, "offset": 0, "byte_size": x.nbytes}).raise_for_status()
        sends = {
            "binary": lambda: client.post("/v2/models/reduce/infer", content=header + x.tobytes(),
                                          headers={HEADER: str(len(header))}),
            "shm": lambda: client.post("/v2/models/reduce/infer", json=shm_body),
        }
        for _ in range(rounds):
            for mode, send in sends.items():
                def step(send: Callable[[], httpx.Response] = send) -> dict[str, Any]:
                    for _ in range(requests):
                        answer = send()
                        answer.raise_for_status()
                    assert abs(answer.json()["outputs"][0]["data"][0] - expected) < 1e-3 * abs(expected)
                    return {}
                out[mode].append(measured(server, step))
    region.close()
    region.unlink()
    return out


def perf_analyzer(args: list[str]) -> dict[str, Any]:
    done = subprocess.run([str(PERF_ANALYZER), *args], capture_output=True, text=True, timeout=300, check=True)
    text = done.stdout
    found = re.search(r"Concurrency: \d+, throughput: ([\d.]+) infer/sec", text)
    p50, p99 = (re.search(rf"p{q} latency: (\d+) usec", text) for q in (50, 99))
    assert found and p50 and p99 and "error" not in text.lower(), text + done.stderr
    return {"throughput_rps": float(found.group(1)), "p50_ms": int(p50.group(1)) / 1000, "p99_ms": int(p99.group(1)) / 1000}


def loadtest(server: ServerProcess, concurrency: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "scripts.loadtest", "digits_lenet", "--url", server.url, "--concurrency",
                        str(concurrency), "--duration", str(seconds), "--warmup", "0.5", "--out", out],
                       cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=300)
        step = json.loads((Path(out) / "results.json").read_text())["steps"][0]
    assert step["errors_total"] == 0, step["errors"]
    return {k: step[k] for k in ("throughput_rps", "p50_ms", "p99_ms")}


def tool_rounds(rounds: int, seconds: float, concurrency: int) -> dict[str, dict[str, list[dict[str, Any]]]]:
    window = ["-p", str(int(seconds * 1000)), "-r", "3", "-s", "10000", "--concurrency-range", str(concurrency)]
    stream: dict[str, list[dict[str, Any]]] = {"unary": [], "streaming": []}
    tools: dict[str, list[dict[str, Any]]] = {"perf_analyzer": [], "ortserve-loadtest": []}
    with ServerProcess(REFERENCE, grpc=True) as server:
        grpc_url, http_url = f"127.0.0.1:{server.grpc_port}", f"127.0.0.1:{server.port}"
        for _ in range(rounds):
            for mode, extra in (("unary", []), ("streaming", ["--streaming"])):
                stream[mode].append(measured(server, lambda extra=extra: perf_analyzer(
                    ["-m", "digits_lenet", "-u", grpc_url, "-i", "grpc", *extra, *window])))
            tools["perf_analyzer"].append(measured(server, lambda: perf_analyzer(
                ["-m", "digits_lenet", "-u", http_url, "-i", "http", *window])))
            tools["ortserve-loadtest"].append(measured(server, lambda: loadtest(server, concurrency, 3 * seconds)))
    return {"stream": stream, "tools": tools}


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k in runs[0] if isinstance(runs[0][k], (int, float))]
    return {k: float(np.median([r[k] for r in runs])) for k in keys}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_triton_tools", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="alternations of each pair (default %(default)s)")
    parser.add_argument("--requests", type=int, default=100, help="shm: requests per mode and round (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=2.0, help="perf_analyzer window, s (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=16, help="stream and tools (default %(default)s)")
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out: shm, tools")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench-results")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    report: dict[str, Any] = {"cpus": os.cpu_count(), "argv": sys.argv[1:] if argv is None else argv}
    if "shm" not in skip:
        report["shm"] = shared_memory_rounds(args.rounds, args.requests)
    if "tools" not in skip:
        report.update(tool_rounds(args.rounds, args.seconds, args.concurrency))
    pairs = [("shm", "shm", "binary"), ("stream", "streaming", "unary"), ("tools", "perf_analyzer", "ortserve-loadtest")]
    report["summary"] = {}
    for part, a, b in pairs:
        if part in report:
            medians = {side: summary(report[part][side]) for side in (a, b)}
            report["summary"][part] = {**medians, "cpu_ratio": medians[a]["server_cpu_us_per_request"]
                                       / medians[b]["server_cpu_us_per_request"]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "triton_tools.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report["summary"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
