"""One inference request as every front door hands it to the core: decoded once, typed.

HTTP (JSON and binary), gRPC and the friendly endpoints each decode their own wire
format into this, then call `ModelRepository.infer(request)`. The core checks it
against the model's config (validation.py) and never sees a raw parameter.
"""

from __future__ import annotations

import time
from dataclasses import KW_ONLY, dataclass
from enum import Enum
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


def triton_timeout(value: object) -> Deadline | None:
    """Triton's `timeout` request parameter, in microseconds (what tritonclient's `infer(timeout=...)` sends)."""
    microseconds = timeout_parameter(value, "microseconds")
    return None if microseconds is None else Deadline.after(microseconds / 1e6)


class FloatChecks(Enum):
    """How a front door's float inputs are checked against the config (integers are always checked).

    STRICT: NaN/Inf and `value_range` refuse the request (the friendly endpoints).
    TRITON: any float is taken as sent, as Triton takes it (the tensor API), unless the
    model's config asks for strict checks there too; what falls outside is counted."""

    STRICT = "strict"
    TRITON = "triton"


@dataclass(slots=True)
class InferRequest:
    model: str
    version: str | None  # None: the latest ready version
    inputs: dict[str, np.ndarray]  # batched models: every input carries the batch axis first
    outputs: frozenset[str] | None = None  # None: every declared output
    deadline: Deadline | None = None  # None: the server's default timeout, from when it is queued
    id: str | None = None  # the caller's request id, echoed in answers
    # What a front door adds by name only: positions past `id` would be easy to mix up.
    _: KW_ONLY
    trace: Any = None  # its RequestTrace (core/tracing) when this request was sampled for tracing
    floats: FloatChecks = FloatChecks.STRICT  # the tensor API's front doors send TRITON
