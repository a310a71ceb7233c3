"""One inference request as every front door hands it to the core: decoded once, typed.

HTTP (JSON and binary), gRPC and the friendly endpoints each decode their own wire
format into this, then call `ModelRepository.infer(request)`. The core checks it
against the model's config (validation.py) and never sees a raw parameter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a request stops being worth answering (504 after it), counted from its arrival."""

    seconds: float
    at: float  # time.monotonic() when it passes

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def earlier(self, seconds: float | None) -> Deadline:
        """This deadline, or one `seconds` from now if that comes first (a gRPC call's own deadline)."""
        if seconds is None or self.at <= time.monotonic() + seconds:
            return self
        return Deadline.after(seconds)


def timeout_parameter(value: object, unit: str = "seconds") -> float | None:
    """A `timeout` request parameter: a positive, finite number of `unit`, or absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise InvalidInput(f"parameter 'timeout' must be a positive number of {unit}, got {value!r}")
    return float(value)


@dataclass(slots=True)
class InferRequest:
    model: str
    version: str | None  # None: the latest ready version
    inputs: dict[str, np.ndarray]  # batched models: every input carries the batch axis first
    outputs: frozenset[str] | None = None  # None: every declared output
    deadline: Deadline | None = None  # None: the server's default timeout, from when it is queued
    id: str | None = None  # the caller's request id, echoed in answers
    trace: Any = None  # its RequestTrace (core/tracing) when this request was sampled for tracing
