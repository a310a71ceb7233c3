"""Open-loop arrival times: when each request is *meant* to be sent.

Offsets are seconds from the start of the step. They never depend on when
responses come back, which is the whole point of an open loop: a slow server
does not slow the offered load down, and latency counted from these intended
times includes any time a request spent waiting to be sent (no coordinated
omission, as in wrk2).

Splitting a rate over N processes: a Poisson process of rate r is the union of
N independent Poisson processes of rate r/N, so each process draws its own
with its own seed; a constant rate is N interleaved combs, process k shifted by
k/r, so together they are evenly spaced again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np

Arrival = Literal["constant", "poisson"]
ARRIVALS: tuple[str, ...] = ("constant", "poisson")

# Exponential gaps are drawn this many at a time: cheap, and bounded memory.
_CHUNK = 4096


def arrival_offsets(
    rate: float,
    arrival: Arrival = "constant",
    *,
    duration_s: float | None = None,
    count: int | None = None,
    seed: int = 0,
    share: tuple[int, int] = (0, 1),
) -> Iterator[float]:
    """Yield intended send offsets (seconds) for a total `rate` in req/s.

    Stops after `duration_s` seconds or `count` offsets, whichever comes first;
    at least one of them must be given so the generator is always bounded.
    `share=(k, n)` yields process k's part of a load split over n processes;
    `count` is then this process's own count.
    """
    if rate <= 0:
        raise ValueError(f"rate must be > 0 req/s, got {rate}")
    if duration_s is None and count is None:
        raise ValueError("give duration_s or count: an open loop must be bounded")
    if arrival not in ARRIVALS:
        raise ValueError(f"arrival must be one of {ARRIVALS}, got {arrival!r}")
    index, processes = share
    if not 0 <= index < processes:
        raise ValueError(f"share must be (k, n) with 0 <= k < n, got {share}")
    limit = float("inf") if duration_s is None else duration_s
    remaining = count if count is not None else -1
    if arrival == "constant":
        gap = processes / rate
        t, i = index / rate, 0
        while t < limit and remaining != 0:
            yield t
            i += 1
            remaining -= 1
            t = index / rate + i * gap  # multiply, never accumulate: no drift
        return
    rng = np.random.default_rng([seed, index])
    t = 0.0
    while True:
        gaps = rng.exponential(processes / rate, _CHUNK)
        for g in gaps:
            t += float(g)
            if t >= limit or remaining == 0:
                return
            yield t
            remaining -= 1
