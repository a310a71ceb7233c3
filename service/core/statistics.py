"""Per model version inference statistics, in the shape of Triton's statistics extension.

Fed by the same hooks as the Prometheus metrics (one batch observer, one success
and one failure record per request), read by `GET .../stats` and gRPC ModelStatistics.
All updates happen on the event loop, so plain integers need no lock.

Input copying (stacking, padding) and output slicing happen inside the timed
execution, so they count in `compute_infer`; `compute_input` and `compute_output`
count the same executions with zero time, as Triton reports for backends that do
not separate them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Duration:
    count: int = 0
    ns: int = 0

    def add(self, seconds: float, count: int = 1) -> None:
        self.count += count
        self.ns += int(seconds * 1e9)

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
    compute_infer: Duration = field(default_factory=Duration)
    batches: dict[int, Duration] = field(default_factory=dict)

    def doc(self, name: str, version: str) -> dict[str, Any]:
        executions = Duration(self.success.count, 0)
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
                "compute_input": executions.doc(),
                "compute_infer": self.compute_infer.doc(),
                "compute_output": executions.doc(),
                "cache_hit": Duration().doc(),
                "cache_miss": Duration().doc(),
            },
            "batch_stats": [
                {
                    "batch_size": size,
                    "compute_input": Duration(d.count, 0).doc(),
                    "compute_infer": d.doc(),
                    "compute_output": Duration(d.count, 0).doc(),
                }
                for size, d in sorted(self.batches.items())
            ],
            "memory_usage": [],
        }


class Statistics:
    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], VersionStats] = {}

    def _of(self, model: str, version: str) -> VersionStats:
        stats = self._stats.get((model, version))
        if stats is None:
            stats = self._stats[(model, version)] = VersionStats()
        return stats

    def on_batch(self, model: str, version: str, rows: int, seconds: float) -> None:
        stats = self._of(model, version)
        stats.execution_count += 1
        stats.inference_count += rows
        stats.batches.setdefault(rows, Duration()).add(seconds)

    def on_success(self, model: str, version: str, total_s: float, queue_s: float, compute_s: float) -> None:
        stats = self._of(model, version)
        stats.last_inference_ms = int(time.time() * 1000)
        stats.success.add(total_s)
        stats.queue.add(queue_s)
        stats.compute_infer.add(compute_s)

    def on_failure(self, model: str, version: str, total_s: float) -> None:
        stats = self._of(model, version)
        stats.last_inference_ms = int(time.time() * 1000)
        stats.fail.add(total_s)

    def document(self, versions: list[tuple[str, str]]) -> dict[str, Any]:
        """`{"model_stats": [...]}` for the given (model, version) pairs, zeros where none ran yet."""
        return {"model_stats": [self._stats.get(key, VersionStats()).doc(*key) for key in versions]}
