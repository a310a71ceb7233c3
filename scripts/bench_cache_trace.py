"""Tracing and the response cache on bench_cnn, side by side in one run: `python -m scripts.bench_cache_trace`.

Servers (bench_cnn from scripts/bench/cnn.py; server on one CPU, this client on the other):

- `baseline`: a checkout of the code before tracing and the cache (`--baseline PATH`, e.g. from
  `git archive main`), when given;
- `trace`: one server whose tracing is switched at runtime through Triton's trace extension
  (POST /v2/trace/setting) between three loads: `off` (the default), `rate1000` (one request
  in 1,000 traced) and `all` (every request traced); spans go over OTLP/HTTP to a sink in this
  process. One process for the three, since two processes of the same code differ by up to
  ±5% in CPU per request on this machine;
- `cache`: one server with two copies of bench_cnn, `bench_cnn` as is and `bench_cnn_cached` with
  `response_cache.enable`, so the cache is compared with no cache inside one process too.

Each takes the same closed loop (binary payload, --concurrency) in turns, `--rounds` times, so
background load on a shared machine hits them alike; ratios are taken within a round. The
cache server runs four loads: `uncached` (bench_cnn) and `miss` (bench_cnn_cached, 0% hits) with
a new input for every request, `hit` (one input: 100% hits), and `zipf` (the 360 held-out
digits, drawn by a Zipf law, s = --zipf-s). Each row has the server's CPU per request (utime + stime from /proc
over the requests /metrics counted) and the hit ratio from the statistics extension.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from statistics import median
from typing import Any

import httpx
import numpy as np

from scripts.bench import cnn
from scripts.bench.machine import split_cpus
from scripts.bench_workers import group_cpu_s, served
from scripts.launcher import ServerProcess
from scripts.loadtest.parallel import run_async, run_step
from scripts.loadtest.payloads import build_binary
from scripts.loadtest.runner import StepPlan
from scripts.loadtest.samples import heldout_digits

MODEL = cnn.NAME
CACHED = f"{MODEL}_cached"
ADMIN = "bench-admin"
# The trace server's loads, as Triton's trace extension sets them.
TRACING = {"off": {"trace_level": ["OFF"]},
           "rate1000": {"trace_level": ["TIMESTAMPS"], "trace_rate": "1000"},
           "all": {"trace_level": ["TIMESTAMPS"], "trace_rate": "1"}}


class Sink:
    """Accepts OTLP/HTTP exports and drops them: the server pays for building and sending spans."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"


def repositories(root: Path) -> tuple[Path, Path]:
    """bench_cnn alone (an older checkout refuses the cache's key), and bench_cnn beside a copy
    named bench_cnn_cached with `response_cache.enable`."""
    plain, both = cnn.write_model(root / "plain").parent, cnn.write_model(root / "cached").parent
    copy = both / CACHED
    shutil.copytree(both / MODEL, copy)
    config = copy / "config.json"
    doc = json.loads(config.read_text())
    config.write_text(json.dumps({**doc, "name": CACHED, "response_cache": {"enable": True}}, indent=2))
    return plain, both


def specs(images: np.ndarray, model: str = MODEL) -> list:
    return [build_binary(model, None, inputs={"image": image[None]}, outputs=["logits"]) for image in images]


def unique_images(count: int, seed: int) -> np.ndarray:
    """Random images, a labelled fixture: all distinct, so no request can hit the cache."""
    return np.random.default_rng(seed).random((count, 1, 28, 28), dtype=np.float32)


def zipf_images(count: int, s: float, seed: int) -> np.ndarray:
    """The held-out digits (8x8, enlarged to 28x28 by nearest neighbour), drawn by a Zipf law."""
    digits = heldout_digits()
    index = (np.arange(28) * 8) // 28
    images = digits[:, :, index][:, :, :, index]
    weights = 1.0 / np.arange(1, len(images) + 1) ** s
    rng = np.random.default_rng(seed)
    ranked = rng.permutation(len(images))  # which digit is the most popular: drawn too
    return images[ranked[rng.choice(len(images), size=count, p=weights / weights.sum())]]


def cache_counts(server: ServerProcess, model: str) -> tuple[int, int]:
    doc = httpx.get(f"{server.url}/v2/models/{model}/stats", timeout=10).json()["model_stats"][0]["inference_stats"]
    return doc["cache_hit"]["count"], doc["cache_miss"]["count"]


def set_tracing(server: ServerProcess, load: str) -> None:
    response = httpx.post(f"{server.url}/v2/trace/setting", json=TRACING[load], timeout=10,
                          headers={"authorization": f"Bearer {ADMIN}"})
    response.raise_for_status()
    assert response.json()["trace_level"] == TRACING[load]["trace_level"], response.text


def measure(server: ServerProcess, requests: list, args: argparse.Namespace, model: str = MODEL) -> dict:
    load = os.getloadavg()[0]
    cpu, done = group_cpu_s(server.pid), served(server)
    hits, misses = cache_counts(server, model)
    plan = StepPlan(mode="closed", concurrency=args.concurrency, warmup_s=args.warmup, duration_s=args.duration,
                    timeout_s=30.0, transport="raw")
    stats, _ = run_async(run_step(server.url, requests, plan, processes=1, scraper=None))
    cpu, done = group_cpu_s(server.pid) - cpu, served(server) - done
    hits, misses = (a - b for a, b in zip(cache_counts(server, model), (hits, misses)))
    summary = stats.summary()
    return {"rps": summary["throughput_rps"], "p50_ms": summary["p50_ms"], "p99_ms": summary["p99_ms"],
            "errors": sum(stats.errors.values()), "server_us": cpu / done * 1e6 if done else 0.0,
            "hit_ratio": hits / (hits + misses) if hits + misses else None, "load": load}


def start(name: str, repository: Path, env: dict[str, str], cpus: set[int] | None, baseline: Path | None,
          log_dir: Path) -> ServerProcess:
    env = {"ORTSERVE_INTRA_OP_THREADS": "1", "ORTSERVE_RESPONSE_CACHE_BYTES": str(256 << 20),
           "ORTSERVE_ADMIN_TOKEN": ADMIN, **env}
    if baseline is not None:  # the older checkout's `service`, not this one (-P: no cwd on sys.path)
        env.update({"PYTHONSAFEPATH": "1", "PYTHONPATH": str(baseline)})
    return ServerProcess(repository, env=env, cpus=cpus, log_path=log_dir / f"{name}.log")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", type=Path, help="a checkout without tracing and the cache, served as `baseline`")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--zipf-s", type=float, default=1.1)
    p.add_argument("--out", type=Path, default=Path("bench-results") / "cache-trace.json")
    args = p.parse_args(argv)
    server_cpus, client_cpus, pinning = split_cpus("auto")
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)
    work = Path(tempfile.mkdtemp(prefix="bench-cache-trace-"))
    plain, cached = repositories(work)
    sink = Sink()
    configs: dict[str, tuple[Path, dict[str, str], Path | None]] = {
        "trace": (plain, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": sink.endpoint}, None),
        "cache": (cached, {}, None),
    }
    if args.baseline:
        configs = {"baseline": (plain, {}, args.baseline.resolve()), **configs}
    servers = {name: start(name, repo, env, server_cpus, base, work) for name, (repo, env, base) in configs.items()}
    per_step = int((args.duration + args.warmup) * 2500)  # more distinct inputs than any step can send
    fixed = specs(unique_images(64, seed=0))  # the tracing loads: 64 inputs in turn (bench's usual load)
    rows: list[dict] = []
    try:
        for server in servers.values():
            server.wait_ready()
        for round_ in range(args.rounds):
            loads: list[tuple[str, str, list, str]] = [("baseline", "fixed", fixed, MODEL)] if args.baseline else []
            loads += [("trace", load, fixed, MODEL) for load in TRACING]
            loads += [("cache", "uncached", specs(unique_images(per_step, seed=1000 + 2 * round_)), MODEL),
                      ("cache", "miss", specs(unique_images(per_step, seed=1001 + 2 * round_), CACHED), CACHED),
                      ("cache", "hit", specs(unique_images(1, seed=0), CACHED), CACHED),
                      ("cache", "zipf", specs(zipf_images(per_step, args.zipf_s, seed=round_), CACHED), CACHED)]
            for name, load, requests, model in loads:
                if name == "trace":
                    set_tracing(servers[name], load)
                row = {"round": round_, "server": name, "load_kind": load,
                       **measure(servers[name], requests, args, model)}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    finally:
        for server in servers.values():
            server.terminate()
    summary = summarise(rows, args.rounds)
    doc = {"command": shlex.join(["python", "-m", "scripts.bench_cache_trace", *(argv or sys.argv[1:])]),
           "pinning": pinning, "rows": rows, "summary": summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


def summarise(rows: list[dict], rounds: int) -> dict[str, Any]:
    """Median over rounds of each ratio taken within a round (throughput and server CPU per request)."""
    def row(r: int, server: str, kind: str) -> dict | None:
        return next((x for x in rows if (x["round"], x["server"], x["load_kind"]) == (r, server, kind)), None)

    pairs = {"off/baseline": (("trace", "off"), ("baseline", "fixed")),
             "rate1000/off": (("trace", "rate1000"), ("trace", "off")),
             "all/off": (("trace", "all"), ("trace", "off")),
             "hit/uncached": (("cache", "hit"), ("cache", "uncached")),
             "miss/uncached": (("cache", "miss"), ("cache", "uncached")),
             "zipf/uncached": (("cache", "zipf"), ("cache", "uncached"))}
    out: dict[str, Any] = {}
    for label, (a, b) in pairs.items():
        found = [(row(r, *a), row(r, *b)) for r in range(rounds)]
        found = [(x, y) for x, y in found if x and y]
        if found:
            out[label] = {"rps_ratio": median(x["rps"] / y["rps"] for x, y in found),
                          "rps_ratios": [round(x["rps"] / y["rps"], 3) for x, y in found],
                          "server_us": [round(x["server_us"], 1) for x, _ in found],
                          "server_us_base": [round(y["server_us"], 1) for _, y in found],
                          "hit_ratio": [x["hit_ratio"] for x, _ in found]}
    return out


if __name__ == "__main__":
    sys.exit(main())
