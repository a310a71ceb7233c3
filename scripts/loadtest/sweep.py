"""A whole run: model config and data, request bodies, one probe, then the steps.

The pieces are public so benchmarks can drive single steps with the same code.
"""

from __future__ import annotations

import json
import platform
import time
from argparse import Namespace
from pathlib import Path

import httpx

from .grpc_transport import PAYLOAD as GRPC_PAYLOAD
from .grpc_transport import build_grpc, probe_grpc
from .metrics_diff import MetricsScraper
from .parallel import run_step
from .payloads import BUILDERS, RequestSpec
from .report import StepProgress, step_row
from .runner import StepPlan
from .samples import SampleSet, load_samples

MAX_BODIES = 256  # distinct pre-encoded requests replayed in a cycle


class ProbeError(RuntimeError):
    """The server refused the very first request: no point measuring errors."""


def load_config(repository: Path, model: str, base_url: str | None = None) -> dict:
    """config.json from the repository; failing that, the server's metadata shaped like one."""
    path = Path(repository) / model / "config.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    if base_url is None:
        raise FileNotFoundError(f"no {path}")
    response = httpx.get(f"{base_url.rstrip('/')}/v2/models/{model}", timeout=10, trust_env=False)
    response.raise_for_status()
    meta = response.json()
    batched = meta.get("max_batch_size", 1) > 0  # OIP shapes carry the batch axis when batched

    def specs(tensors: list[dict]) -> list[dict]:
        return [{"name": t["name"], "datatype": t["datatype"], "dims": t["shape"][1:] if batched else t["shape"]}
                for t in tensors]

    return {"name": model, "input": specs(meta["inputs"]), "output": specs(meta["outputs"]), "preprocessing": {}}


def build_specs(
    config: dict,
    samples: SampleSet,
    payload: str,
    *,
    model: str,
    version: str | None = None,
    batch_size: int = 1,
    outputs: list[str] | None = None,
) -> list[RequestSpec]:
    """Pre-encode up to MAX_BODIES requests of `batch_size` items each."""
    wanted = outputs or [s["name"] for s in config["output"]]
    count = max(1, min(MAX_BODIES, len(samples.items) // batch_size))
    builder = build_grpc if payload == GRPC_PAYLOAD else BUILDERS[payload]
    specs = []
    for batch in samples.batches(batch_size, count):
        inputs = samples.encode(batch) if payload != "friendly" else {}
        specs.append(builder(model, version, inputs=inputs, outputs=wanted, items=batch, kind=samples.kind))
    return specs


def probe(base_url: str, spec: RequestSpec, timeout_s: float = 30.0) -> None:
    """Send one request; raise ProbeError with the server's answer unless it is 200."""
    try:
        response = httpx.request(
            spec.method, base_url.rstrip("/") + spec.path, content=spec.body, headers=spec.headers,
            timeout=timeout_s, trust_env=False,
        )
    except httpx.HTTPError as exc:
        raise ProbeError(f"cannot reach {base_url}: {exc!r}") from None
    if response.status_code != 200:
        raise ProbeError(f"POST {spec.path} answered {response.status_code}: {response.text[:500]}")


def probe_target(target: str, spec: RequestSpec, timeout_s: float = 30.0) -> None:
    """`probe` for HTTP specs, one gRPC call for gRPC ones (then `target` is host:port)."""
    if spec.method != "GRPC":
        probe(target, spec, timeout_s)
        return
    problem = probe_grpc(target, spec, timeout_s)
    if problem is not None:
        raise ProbeError(problem)


def plan_for(args: Namespace, level: float) -> StepPlan:
    common = {
        "warmup_s": args.warmup, "duration_s": None if args.requests else args.duration, "requests": args.requests,
        "timeout_s": args.timeout, "seed": args.seed,
        "transport": "grpc" if args.protocol == "grpc" else args.transport,
    }
    if args.rate is not None:
        return StepPlan(mode="open", rate=level, arrival=args.arrival, max_inflight=args.max_inflight,
                        connections=args.connections,
                        late_tolerance_s=args.late_tolerance_ms / 1e3, **common)
    return StepPlan(mode="closed", concurrency=int(level), **common)


async def run_sweep(args: Namespace) -> tuple[dict, list[dict]]:
    """Every level of the sweep in order: the run's description and one row per step."""
    config = load_config(args.repository, args.model, args.url)
    samples = load_samples(config, args.input_file, args.seed)
    outputs = args.outputs.split(",") if args.outputs else None
    payload = GRPC_PAYLOAD if args.protocol == "grpc" else args.payload
    specs = build_specs(config, samples, payload, model=args.model, version=args.version,
                        batch_size=args.batch_size, outputs=outputs)
    # gRPC requests go to --grpc-url; /metrics (the server-side breakdown) stays on --url.
    target = args.grpc_url if args.protocol == "grpc" else args.url
    probe_target(target, specs[0], args.timeout)
    scraper = MetricsScraper(args.url, args.model, args.version)
    levels = args.rate if args.rate is not None else args.concurrency
    mode = "open" if args.rate is not None else "closed"
    meta = {
        "model": args.model, "url": target, "payload": payload, "mode": mode, "arrival": args.arrival,
        "data": samples.source, "synthetic_data": samples.synthetic, "batch_size": args.batch_size,
        "processes": args.processes, "warmup_s": args.warmup, "duration_s": args.duration, "requests": args.requests,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(), "python": platform.python_version(),
    }
    rows = []
    for level in levels:
        plan = plan_for(args, level)
        total = None if args.requests else args.warmup + args.duration
        bar = StepProgress(f"{args.model} {payload} {mode} {level:g}", total)
        try:
            stats, server = await run_step(target, specs, plan, processes=args.processes, scraper=scraper,
                                           progress=bar, use_uvloop=args.uvloop)
        finally:
            bar.close()
        row = step_row(stats, server, model=args.model, payload=payload, mode=mode, level=level,
                       rate=level if mode == "open" else None, arrival=args.arrival if mode == "open" else None,
                       processes=args.processes, batch_size=args.batch_size)
        rows.append(row)
    if scraper.error:
        meta["metrics_error"] = scraper.error
    return meta, rows
