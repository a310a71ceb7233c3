"""What a batch reports: each request's Result, and the hooks the batcher calls (metrics
and statistics plug in here, so inference code stays unaware of Prometheus)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Result:
    outputs: dict[str, np.ndarray]
    queue_s: float  # until its batch began to be stacked
    compute_s: float
    batch_rows: int
    input_s: float = 0.0  # stacking and padding its batch (Triton's compute_input)
    output_s: float = 0.0  # slicing every request's answer out of the batch's (compute_output)


@dataclass
class BatchObserver:
    """Hooks for metrics; inference code stays unaware of Prometheus."""

    on_batch: Callable[[int, float, float, float], None] = lambda rows, seconds, input_s, output_s: None
    on_queue_depth: Callable[[int], None] = lambda depth: None
    # After a batch that served traced requests (their pending entries, with `.trace` and
    # `.enqueued`): began, input_s, compute_s, output_s, rows (core/tracing makes the spans).
    on_traced: Callable[[list[Any], float, float, float, float, int], None] = (
        lambda traced, began, input_s, compute_s, output_s, rows: None)
