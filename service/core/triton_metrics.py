"""Prometheus families written exactly as Triton writes them: `nv_inference_count`, no `_total`.

prometheus_client always appends `_total` to a counter's samples, so Triton's
counters are kept here and rendered by hand in the text exposition format; a
Triton dashboard or alert that queries `nv_inference_count` then finds it.
Updates come from the event loop (batch observer, request records) and a scrape
reads a snapshot, so a lock keeps the two from tearing a row.
"""

from __future__ import annotations

import math
import threading


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def format_number(value: float) -> str:
    """A sample value as Prometheus text: integers without a decimal point, the rest as repr,
    and the text format's spellings of the non-finite ones (one bad value must not fail a scrape)."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return repr(float(value)) if value != int(value) or abs(value) >= 1e15 else f"{int(value)}"


class Family:
    """One metric family (counter or gauge) with fixed label names."""

    def __init__(self, name: str, documentation: str, kind: str, labelnames: tuple[str, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.kind = kind
        self.labelnames = labelnames
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, labels: tuple[str, ...], amount: float = 1.0) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def set(self, labels: tuple[str, ...], value: float) -> None:
        with self._lock:
            self._values[labels] = float(value)

    def value(self, labels: tuple[str, ...]) -> float:
        with self._lock:
            return self._values.get(labels, 0.0)

    def render(self) -> str:
        with self._lock:
            rows = sorted(self._values.items())
        lines = [f"# HELP {self.name} {self.documentation}", f"# TYPE {self.name} {self.kind}"]
        for labels, value in rows:
            pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in zip(self.labelnames, labels))
            lines.append(f"{self.name}{{{pairs}}} {format_number(value)}")
        return "\n".join(lines) + "\n"
