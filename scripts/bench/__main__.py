"""python -m scripts.bench: the benchmark tables for every model in the repository.

Besides the repository's models it serves a benchmark CNN (cnn.py: ResNet-style,
1x28x28, ~300k seeded random parameters) unless --no-bench-cnn. The service is
started twice on a free 127.0.0.1 port (batching on, then
ORTSERVE_DISABLE_BATCHING=true); each model is driven with JSON and binary
payloads at concurrency 1, 16 and 64, then run by raw ONNX Runtime in-process
at batch 1, at max batch and at the batch sizes the server formed.
Writes bench.md and bench.json to --out.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from scripts.loadtest.report import dump_json
from scripts.loadtest.samples import load_samples
from scripts.loadtest.sweep import build_specs, load_config

from . import cnn
from .machine import describe, split_cpus
from .markdown import ratios, render
from .matrix import MatrixPlan, formed_batch_sizes, served_rows, start_server
from .ort_ceiling import latest_model_file, measure, pinned

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FULL = {"duration": 5.0, "warmup": 1.0, "ort_seconds": 2.0}
QUICK = {"duration": 1.0, "warmup": 0.3, "ort_seconds": 0.5}  # --quick: CI-sized


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m scripts.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repository", type=Path, default=PROJECT_ROOT / "models" / "repository")
    p.add_argument("--models", default=None, help="comma-separated names (default: every model in the repository)")
    p.add_argument("--duration", type=float, default=None, help="measured seconds per step (default 5, quick 1)")
    p.add_argument("--warmup", type=float, default=None, help="warm-up seconds per step (default 1, quick 0.3)")
    p.add_argument("--ort-seconds", type=float, default=None, help="raw ORT seconds per batch size (default 2, quick 0.5)")
    p.add_argument("--concurrency", default="1,16,64", help="closed-loop levels (default %(default)s)")
    p.add_argument("--payloads", default="json,binary", help="payload modes (default %(default)s)")
    p.add_argument("--protocol", default="http",
                   help="http, grpc or http,grpc: grpc adds ModelInfer with raw tensors (the `grpc` payload) "
                        "on the server's gRPC port (default %(default)s)")
    p.add_argument("--pin", choices=["auto", "on", "off"], default="auto",
                   help="server and client on separate CPUs (auto: when there are 2 or more)")
    p.add_argument("--threads", type=int, default=None,
                   help="ONNX Runtime intra-op threads, server and raw alike (default: one per server CPU when pinned)")
    p.add_argument("--processes", type=int, default=1, help="client processes (default %(default)s)")
    p.add_argument("--no-bench-cnn", action="store_true",
                   help="leave out the benchmark CNN (scripts/bench/cnn.py), otherwise served beside the repository's "
                        "models whenever --models is not given or names it")
    p.add_argument("--quick", action="store_true", help="CI-sized: 1 s steps, 0.3 s warm-up, 0.5 s raw ORT")
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench-results")
    args = p.parse_args(argv)
    unknown = set(args.protocol.split(",")) - {"http", "grpc"}
    if unknown:
        raise SystemExit(f"--protocol: unknown {sorted(unknown)}; use http, grpc or http,grpc")
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def model_names(repository: Path, wanted: str | None) -> list[str]:
    if wanted:
        return [m for m in wanted.split(",") if m]
    return sorted(p.name for p in repository.iterdir() if (p / "config.json").is_file())


def client_outputs(config: dict) -> list[str] | None:
    """What a client of the model reads: its postprocessing output when it declares one (the
    Transformer's probabilities, not its [layers, heads, seq, seq] attention maps), else all."""
    output = (config.get("postprocessing") or {}).get("output")
    return [output] if output else None


def _progress(row: dict) -> None:
    print(f"  {row['model']}: batching {'on ' if row['batching'] else 'off'} {row['payload']:6} c={row['level']:<3} "
          f"{row['throughput_rps']:8.0f} req/s  p50 {row['p50_ms']:.3f} ms  p99 {row['p99_ms']:.3f} ms", file=sys.stderr)


def run_benchmark(args, names: list[str], plan: MatrixPlan, server_cpus, client_cpus, threads: int) -> tuple[dict, dict]:
    """{model: results} and {model: error} for every model that could not be measured."""
    prepared, errors = {}, {}
    for name in names:
        try:
            config = load_config(args.repository, name)
            samples = load_samples(config)
            wanted = client_outputs(config)
            specs = {p: build_specs(config, samples, p, model=name, outputs=wanted) for p in plan.payloads}
            prepared[name] = (config, samples, specs)
        except Exception as exc:  # one broken model must not lose the others' numbers
            errors[name] = f"preparing inputs: {exc}"
    served: dict[str, list] = {name: [] for name in prepared}
    with pinned(client_cpus):
        for batching in (True, False):
            with start_server(args.repository, batching, server_cpus=server_cpus, threads=threads,
                              log_dir=args.out) as server:
                for name, (_, _, specs) in prepared.items():
                    if name in errors:
                        continue
                    try:
                        served[name] += served_rows(server.url, name, specs, plan, batching=batching,
                                                    progress=_progress, grpc_target=server.grpc_target,
                                                    server_pid=server.pid)
                    except Exception as exc:
                        errors[name] = f"batching {'on' if batching else 'off'}: {exc}"
    results = {}
    for name, (config, samples, _) in prepared.items():
        if name in errors:
            continue
        batches = [1, max(1, config.get("max_batch_size", 1)), *formed_batch_sizes(served[name])]
        ort_rows = measure(latest_model_file(args.repository, name), samples, batches, threads=threads,
                           cpus=server_cpus, seconds=args.ort_seconds, outputs=client_outputs(config))
        results[name] = {"data": samples.source, "synthetic_data": samples.synthetic, "served": served[name],
                         "ort": ort_rows, "ratios": ratios(served[name], ort_rows, plan.concurrencies)}
    return results, errors


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    server_cpus, client_cpus, pinning = split_cpus(args.pin)
    threads = args.threads if args.threads is not None else (len(server_cpus) if server_cpus else 0)
    protocols = set(args.protocol.split(","))
    payloads = [p for p in args.payloads.split(",") if p] if "http" in protocols else []
    if "grpc" in protocols:
        payloads.append("grpc")
    plan = MatrixPlan(payloads=tuple(payloads),
                      concurrencies=tuple(int(c) for c in args.concurrency.split(",")),
                      duration_s=args.duration, warmup_s=args.warmup, processes=args.processes)
    doc = {
        "machine": describe(),
        "settings": {"pinning": pinning, "threads": threads, "duration_s": args.duration, "warmup_s": args.warmup,
                     "ort_seconds": args.ort_seconds, "processes": args.processes,
                     "command": shlex.join(["python", "-m", "scripts.bench", *(argv if argv is not None else sys.argv[1:])])},
        "models": {},
    }
    print(f"benchmark: {pinning}", file=sys.stderr)
    if not args.no_bench_cnn and (args.models is None or cnn.NAME in args.models.split(",")):
        # The reference models stay where they are (linked); the CNN is written beside them.
        args.repository = cnn.overlay_repository(args.repository, args.out / "repository")
    doc["models"], doc["errors"] = run_benchmark(args, model_names(args.repository, args.models), plan,
                                                 server_cpus, client_cpus, threads)
    for name, error in doc["errors"].items():
        print(f"error: {name}: {error}", file=sys.stderr)
    markdown = render(doc)
    (args.out / "bench.md").write_text(markdown + "\n")
    dump_json(args.out / "bench.json", doc)
    print(markdown)
    print(f"wrote {args.out / 'bench.md'} and bench.json", file=sys.stderr)
    return 1 if doc["errors"] or not doc["models"] else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
