"""The ceiling: the same ONNX file run by ONNX Runtime in-process, no HTTP, no queue.

Sessions are built with the service's own session options (service.core.runtime),
so the only differences left between this and a served request are the ones
serving adds. Inputs are the same real samples the load test sends.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnxruntime as ort

from scripts.loadtest.samples import SampleSet
from scripts.loadtest.stats import percentiles

MAX_RUNS = 200_000  # a bound on every loop, whatever the clock says


@contextmanager
def pinned(cpus: set[int] | None):
    """Run the block (and the threads ONNX Runtime starts inside it) on `cpus` only."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def latest_model_file(repository: Path, model: str) -> Path:
    versions = sorted(int(p.name) for p in (Path(repository) / model).iterdir() if p.name.isdigit())
    if not versions:
        raise FileNotFoundError(f"{repository}/{model}: no version folders")
    return Path(repository) / model / str(versions[-1]) / "model.onnx"


def make_session(path: Path, threads: int) -> ort.InferenceSession:
    from service.core.runtime import session_options
    from service.core.settings import Settings

    options = session_options(Settings(intra_op_threads=threads))
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def time_runs(session: ort.InferenceSession, feeds: dict[str, np.ndarray], seconds: float) -> np.ndarray:
    """Latency of each session.run over about `seconds` (after a short warm-up)."""
    return time_runs_with_cpu(session, feeds, seconds)[0]


def time_runs_with_cpu(
    session: ort.InferenceSession, feeds: dict[str, np.ndarray], seconds: float, outputs: list[str] | None = None
) -> tuple[np.ndarray, float]:
    """(latency of each run, CPU seconds of this process over all runs). On a shared
    machine wall time includes waiting for the core; CPU time is what ORT itself cost."""
    for _ in range(5):
        session.run(outputs, feeds)
    times = []
    cpu_started = time.process_time()
    stop = time.perf_counter() + seconds
    while len(times) < MAX_RUNS:
        started = time.perf_counter()
        session.run(outputs, feeds)
        ended = time.perf_counter()
        times.append(ended - started)
        if ended >= stop:
            break
    return np.asarray(times), time.process_time() - cpu_started


def measure(path: Path, samples: SampleSet, batch_sizes: list[int], *, threads: int = 0,
            cpus: set[int] | None = None, seconds: float = 2.0, outputs: list[str] | None = None) -> list[dict]:
    """items/s, per-run latency and CPU ms per item at each batch size, on the server's CPUs,
    fetching `outputs` (None: all), as the served requests ask."""
    rows = []
    with pinned(cpus):
        session = make_session(path, threads)
        for batch in sorted(set(batch_sizes)):
            feeds = samples.encode(samples.batches(batch, 1)[0])
            times, cpu = time_runs_with_cpu(session, feeds, seconds, outputs)
            stats = percentiles(times)
            rows.append({
                "batch": batch, "runs": int(times.size), "items_per_s": batch * times.size / times.sum(),
                "cpu_ms_per_item": cpu * 1e3 / (batch * times.size),
                "p50_ms": stats["p50"] * 1e3, "p99_ms": stats["p99"] * 1e3,
            })
    return rows
