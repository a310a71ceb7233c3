"""Per model version inference statistics, in the shape of Triton's statistics extension.

Fed by the same hooks as the Prometheus metrics (one batch observer, one success
and one failure record per request), read by `GET .../stats` and gRPC ModelStatistics.
All updates happen on the event loop, so plain integers need no lock.

As in Triton: `queue` runs until the request's batch begins to be built,
`compute_input` is building it (stacking and padding the requests' tensors),
`compute_infer` the runtime call, `compute_output` slicing each request's answer
out of the batch's. Per request in `inference_stats`, per execution in `batch_stats`.
A response-cache hit (core/cache.py) counts in `success` and `queue` (with no wait) and
in `cache_hit` (the lookup), never in `compute_*` or the inference and execution counts;
a miss counts in `cache_miss` (the lookup, then storing the answer), as in Triton.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .batch_results import Result


@dataclass
class Duration:
    count: int = 0
    ns: int = 0

    def add(self, seconds: float, count: int = 1) -> None:
        self.count += count
        self.ns += round(seconds * 1e9)  # round: int(0.0003 * 1e9) is 299,999

    def doc(self) -> dict[str, int]:
        return {"count": self.count, "ns": self.ns}


@dataclass
class VersionStats:
    last_inference_ms: int = 0
    inference_count: int = 0
    execution_count: int = 0
    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)
    cache_hit: Duration = field(default_factory=Duration)
    cache_miss: Duration = field(default_factory=Duration)
    # batch size -> (compute_input, compute_infer, compute_output), one count per execution
    batches: dict[int, tuple[Duration, Duration, Duration]] = field(default_factory=dict)

    def on_batch(self, rows: int, seconds: float, input_s: float = 0.0, output_s: float = 0.0) -> None:
        self.execution_count += 1
        self.inference_count += rows
        durations = self.batches.get(rows)
        if durations is None:
            durations = self.batches[rows] = (Duration(), Duration(), Duration())
        durations[0].add(input_s)
        durations[1].add(seconds)
        durations[2].add(output_s)

    def on_success(self, total_s: float, result: Result) -> None:
        self.last_inference_ms = int(time.time() * 1000)
        self.success.add(total_s)
        self.queue.add(result.queue_s)
        self.compute_input.add(result.input_s)
        self.compute_infer.add(result.compute_s)
        self.compute_output.add(result.output_s)

    def on_cache_hit(self, total_s: float, lookup_s: float) -> None:
        self.last_inference_ms = int(time.time() * 1000)
        self.success.add(total_s)
        self.queue.add(0.0)
        self.cache_hit.add(lookup_s)

    def on_failure(self, total_s: float) -> None:
        self.last_inference_ms = int(time.time() * 1000)
        self.fail.add(total_s)

    def doc(self, name: str, version: str) -> dict[str, Any]:
        return {
            "name": name,
            "version": version,
            "last_inference": self.last_inference_ms,
            "inference_count": self.inference_count,
            "execution_count": self.execution_count,
            "inference_stats": {
                "success": self.success.doc(),
                "fail": self.fail.doc(),
                "queue": self.queue.doc(),
                "compute_input": self.compute_input.doc(),
                "compute_infer": self.compute_infer.doc(),
                "compute_output": self.compute_output.doc(),
                "cache_hit": self.cache_hit.doc(),
                "cache_miss": self.cache_miss.doc(),
            },
            "batch_stats": [
                {"batch_size": size, "compute_input": i.doc(), "compute_infer": c.doc(), "compute_output": o.doc()}
                for size, (i, c, o) in sorted(self.batches.items())
            ],
            "memory_usage": [],
        }


class Statistics:
    """Every model version's VersionStats; the metrics (metrics.py) read the same numbers."""

    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], VersionStats] = {}

    def of(self, model: str, version: str) -> VersionStats:
        stats = self._stats.get((model, version))
        if stats is None:
            stats = self._stats[(model, version)] = VersionStats()
        return stats

    def items(self) -> list[tuple[tuple[str, str], VersionStats]]:
        return list(self._stats.items())

    def document(self, versions: list[tuple[str, str]]) -> dict[str, Any]:
        """`{"model_stats": [...]}` for the given (model, version) pairs, zeros where none ran yet."""
        return {"model_stats": [self._stats.get(key, VersionStats()).doc(*key) for key in versions]}
