"""1 worker against N workers, side by side in one run: `python -m scripts.bench_workers`.

For each model, servers with 1 and N workers (unpinned, so they may use every
core) take the same closed loop (binary, lean transport, --concurrency) in turns,
`--rounds` times, so background load on a shared machine hits both alike. The
client's own CPU is reported, so a client-bound run is visible, as is the
server's CPU per request (every process of the group, from /proc, over the
requests /metrics counted; warm-up included), and the load average before
each run, which says how much of the machine others were using.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from scripts.launcher import PROJECT_ROOT, ServerProcess
from service.core.settings import DEFAULT_REPOSITORY

TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu_s(pid: int) -> float:
    """utime + stime of `pid` and its children (the supervisor's workers), in seconds."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def served(server: ServerProcess) -> float:
    """Successful requests so far, every worker together (the aggregated /metrics)."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("nv_inference_request_success{"))


def measure(server: ServerProcess, model: str, concurrency: int, duration: float) -> dict:
    out = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    load = os.getloadavg()[0]
    before, requests = group_cpu_s(server.pid), served(server)
    subprocess.run(
        [sys.executable, "-m", "scripts.loadtest", model, "--url", server.url, "--payload", "binary",
         "--transport", "raw", "--concurrency", str(concurrency), "--duration", str(duration), "--warmup", "1",
         "--out", str(out)],
        cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL,
    )
    step = json.loads((out / "results.json").read_text())["steps"][0]
    cpu_s, requests = group_cpu_s(server.pid) - before, served(server) - requests
    return {"rps": step["throughput_rps"], "p50_ms": step["p50_ms"], "p99_ms": step["p99_ms"],
            "errors": step["errors_total"], "client_cpu": step["client_cpu"],
            "server_us": cpu_s / requests * 1e6 if requests else 0.0, "load": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="digits_lenet,digits_resnet")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for model in args.models.split(","):
        servers = {n: ServerProcess(DEFAULT_REPOSITORY, args=["--workers", str(n)]) for n in (1, args.workers)}
        try:
            for server in servers.values():
                server.wait_ready()
            runs: dict[int, list[dict]] = {n: [] for n in servers}
            for _ in range(args.rounds):
                for n, server in servers.items():
                    runs[n].append(measure(server, model, args.concurrency, args.duration))
        finally:
            for server in servers.values():
                server.terminate()
        for n, results in runs.items():
            for r in results:
                rows.append({"model": model, "workers": n, **r})
    print("| model | workers | req/s | p50 ms | p99 ms | errors | server CPU µs/request | client CPU (cores) "
          "| load average before |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['workers']} | {r['rps']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['errors']} | {r['server_us']:.0f} | {r['client_cpu']:.2f} | {r['load']:.1f} |")
    for model in args.models.split(","):
        mean = {n: sum(r["rps"] for r in rows if r["model"] == model and r["workers"] == n) / args.rounds
                for n in (1, args.workers)}
        print(f"{model}: {args.workers} workers / 1 worker = {mean[args.workers] / mean[1]:.2f}x")


if __name__ == "__main__":
    main()
