"""How many CPUs this process may really use, and how workers and ORT threads share them.

`os.cpu_count()` counts the machine; a container limited by a CPU quota, or a
process pinned with taskset, gets less. Oversubscribing (more busy threads than
usable CPUs) makes every request pay for context switches, so the thread budget
is workers x ORT intra-op threads <= usable CPUs.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_quota(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs allowed by the cgroup CPU quota (v2 `cpu.max`, or v1 cfs files); None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


def usable_cpus(root: Path = CGROUP_ROOT) -> int:
    """The smaller of the affinity mask and the (rounded up) cgroup quota; at least 1."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_quota(root)
    limit = affinity if quota is None else min(affinity, math.ceil(quota))
    return max(1, limit)


@dataclass(frozen=True)
class Layout:
    """How the usable CPUs are shared: `workers` processes of `intra_op_threads` ORT threads each."""

    workers: int
    intra_op_threads: int  # 0: ORT picks (one per physical core), only with a single worker
    usable_cpus: int

    @property
    def oversubscribed(self) -> bool:
        return self.intra_op_threads > 0 and self.workers * self.intra_op_threads > self.usable_cpus

    def describe(self) -> str:
        threads = self.intra_op_threads or "ORT's choice of"
        return f"{self.workers} worker(s) x {threads} ORT intra-op thread(s) on {self.usable_cpus} usable CPU(s)"


def plan(workers: int | str, intra_op_threads: int, usable: int) -> Layout:
    """`workers` ("auto" = one per usable CPU) and the intra-op threads each gets.

    With several workers and no explicit thread count, each gets its share of the
    CPUs (at least one), so the default never oversubscribes."""
    count = usable if workers == "auto" else int(workers)
    if count > 1 and intra_op_threads == 0:
        intra_op_threads = max(1, usable // count)
    return Layout(count, intra_op_threads, usable)
