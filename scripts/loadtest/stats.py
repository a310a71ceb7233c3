"""Latency statistics for one step: every sample kept, percentiles by nearest rank.

We keep all latencies rather than a bucketed histogram: at the rates a Python
client reaches (well under 10k req/s) a step of minutes is a few MB of float64,
percentiles are exact, and merging processes is a concatenation, so a run split
over N processes reports exactly what one process would have.

Percentiles use the nearest-rank definition (numpy's ``inverted_cdf``, as
HdrHistogram and wrk2 report them): p99 is a latency some request really had,
never an interpolation between two, so a tail of one slow request is not
smoothed away.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)


def percentile_label(p: float) -> str:
    """50.0 -> 'p50', 99.9 -> 'p99.9'."""
    return f"p{p:g}"


def percentiles(samples: np.ndarray, points: tuple[float, ...] = PERCENTILES) -> dict[str, float]:
    """Nearest-rank percentiles plus max and mean; NaN for an empty sample."""
    values = np.asarray(samples, dtype=np.float64)
    names = [percentile_label(p) for p in points] + ["max", "mean"]
    if values.size == 0:
        return {name: float("nan") for name in names}
    ranked = np.percentile(values, points, method="inverted_cdf")
    out = {percentile_label(p): float(v) for p, v in zip(points, ranked)}
    out["max"] = float(values.max())
    out["mean"] = float(values.mean())
    return out


@dataclass
class StepStats:
    """What one process (or several, merged) observed during one measured step.

    Latencies are seconds from each request's intended send time (open loop) or
    actual send time (closed loop) to the end of its response. Only successful
    responses contribute latencies; every outcome is counted in ``outcomes``
    ('200', '429', '503', '504', 'connect', 'timeout', ...).
    """

    latencies: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.float64))
    # Seconds to each 429/503 answer: an overloaded server should reject in milliseconds.
    rejected_latencies: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.float64))
    outcomes: Counter = field(default_factory=Counter)
    items_ok: int = 0  # batch rows answered successfully (requests x batch size)
    sent: int = 0
    late: int = 0  # open loop: sent later than intended by more than the tolerance
    dropped: int = 0  # open loop: not sent because the in-flight cap was reached
    max_send_lag_s: float = 0.0
    reconnects: int = 0  # connections reopened after the first (keep-alive not held, or a timeout)
    window_start: float = float("inf")  # shared monotonic clock (CLOCK_MONOTONIC is system-wide)
    window_end: float = float("-inf")  # last completion of a measured request
    nominal_s: float = 0.0  # the planned measuring time of the step
    cpu_s: list[float] = field(default_factory=list)  # client CPU seconds, one entry per process
    wall_s: list[float] = field(default_factory=list)  # wall seconds the CPU figure covers

    @property
    def ok(self) -> int:
        return int(self.latencies.size)

    @property
    def errors(self) -> dict[str, int]:
        return {k: v for k, v in sorted(self.outcomes.items()) if k != "200"}

    @property
    def elapsed_s(self) -> float:
        """Measured time: the planned window, stretched if measured requests drained late."""
        span = self.window_end - self.window_start if self.window_end > self.window_start else 0.0
        return max(self.nominal_s, span)

    @property
    def client_cpu_max(self) -> float:
        """Highest CPU use of any client process, as a fraction of one core."""
        fractions = [c / w for c, w in zip(self.cpu_s, self.wall_s) if w > 0]
        return max(fractions, default=0.0)

    def summary(self) -> dict[str, float]:
        elapsed = self.elapsed_s
        return {
            "requests_ok": self.ok,
            "throughput_rps": self.ok / elapsed if elapsed else 0.0,
            "items_per_s": self.items_ok / elapsed if elapsed else 0.0,
            **{f"{k}_ms": v * 1e3 for k, v in percentiles(self.latencies).items()},
        }


def merge(parts: list[StepStats]) -> StepStats:
    """Combine the stats of processes that ran the same step side by side (exact)."""
    merged = StepStats()
    merged.latencies = np.concatenate([p.latencies for p in parts]) if parts else merged.latencies
    if parts:
        merged.rejected_latencies = np.concatenate([p.rejected_latencies for p in parts])
    for p in parts:
        merged.outcomes.update(p.outcomes)
        merged.items_ok += p.items_ok
        merged.sent += p.sent
        merged.late += p.late
        merged.dropped += p.dropped
        merged.reconnects += p.reconnects
        merged.max_send_lag_s = max(merged.max_send_lag_s, p.max_send_lag_s)
        merged.window_start = min(merged.window_start, p.window_start)
        merged.window_end = max(merged.window_end, p.window_end)
        merged.nominal_s = max(merged.nominal_s, p.nominal_s)
        merged.cpu_s.extend(p.cpu_s)
        merged.wall_s.extend(p.wall_s)
    return merged
