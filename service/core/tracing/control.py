"""Triton's trace settings (`trace_level`, `trace_rate`, `trace_count`, `log_frequency`), server-wide
and per model, and the one sampling decision each request gets.

The decision is a counter, not a random draw (Triton's trace_rate: one request in N), made
once per request before anything about tracing is built: an untraced request costs a dict
lookup and an addition. A request whose caller sent a `traceparent` follows its caller's
sampled flag instead (OpenTelemetry's parent-based sampling), so a trace sampled upstream is
never cut at this server, and one dropped upstream is not started here. `trace_count` bounds
how many traces are taken (-1: no limit). A model's own settings override the server's for
that model; every change restarts the counters it touches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput
from .w3c import Parent

LEVELS = ("OFF", "TIMESTAMPS")
NAMES = ("trace_level", "trace_rate", "trace_count", "log_frequency")
Values = dict[str, Any]  # trace_level: str, the others: int
_INTEGER = re.compile(r"^-?[0-9]{1,18}$")


@dataclass(slots=True)
class Policy:
    level: str
    rate: int
    count: int  # traces left to take; -1: no limit
    seen: int = 0

    @classmethod
    def of(cls, values: Values) -> Policy:
        return cls(values["trace_level"], values["trace_rate"], values["trace_count"])

    def sample(self, parent: Parent | None) -> bool:
        if self.level == "OFF" or self.count == 0:
            return False
        if parent is not None:
            take = parent.sampled
        else:
            self.seen += 1
            take = self.seen >= self.rate
            if take:
                self.seen = 0
        if take and self.count > 0:
            self.count -= 1
        return take


def _integer(name: str, value: Any, low: int, meaning: str) -> int:
    # Triton's clients send strings ("1000"); numbers are taken too.
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not _INTEGER.match(text) or int(text) < low:
        raise InvalidInput(f"trace setting {name!r} must be {meaning}, got {value!r}")
    return int(text)


def _level(value: Any) -> str:
    levels = [value] if isinstance(value, str) else value
    if not isinstance(levels, list) or not levels or not all(isinstance(v, str) for v in levels):
        raise InvalidInput(f"trace setting 'trace_level' must be a list of levels {list(LEVELS)}, got {value!r}")
    upper: list[str] = sorted({str(v).upper() for v in levels})
    if "TENSORS" in upper:
        raise InvalidInput("trace_level TENSORS is not supported: spans carry timings and attributes, never tensor "
                           f"data; use {list(LEVELS)}")
    unknown = [v for v in upper if v not in LEVELS]
    if unknown or len(upper) != 1:
        raise InvalidInput(f"trace setting 'trace_level' must be one of {list(LEVELS)}, got {value!r}")
    return upper[0]


def check(name: str, value: Any, model: str | None) -> Any:
    """One setting's value as the server keeps it, or InvalidInput naming the setting."""
    if name == "trace_level":
        return _level(value)
    if name == "trace_rate":
        return _integer(name, value, 1, 'a positive integer, e.g. "1000" (one request in 1000 is traced)')
    if name == "trace_count":
        return _integer(name, value, -1, 'an integer >= -1 ("-1": no limit)')
    if name == "log_frequency":
        if model is not None:
            raise InvalidInput("trace setting 'log_frequency' is server-wide (it paces the exporter): "
                               "set it on /v2/trace/setting")
        return _integer(name, value, 0, 'an integer >= 0 ("0": the exporter\'s own schedule)')
    if name in ("trace_file", "trace_mode"):
        raise InvalidInput(f"trace setting {name!r} cannot be changed: the trace mode is opentelemetry and spans go "
                           "to the OTLP/HTTP exporter (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), not to a file")
    raise InvalidInput(f"unknown trace setting {name!r}; settings: {list(NAMES)}")


class TraceControl:
    """The settings in force: the server's, each model's overrides, and their policies."""

    def __init__(self, startup: Values) -> None:
        self.startup = dict(startup)
        self.values = dict(startup)
        self.overrides: dict[str, Values] = {}
        self.server = Policy.of(startup)
        self.models: dict[str, Policy] = {}

    @property
    def on(self) -> bool:
        return any(p.level != "OFF" for p in (self.server, *self.models.values()))

    def policy(self, model: str) -> Policy:
        return self.models.get(model) or self.server

    def effective(self, model: str | None) -> Values:
        return {**self.values, **(self.overrides.get(model, {}) if model is not None else {})}

    def document(self, model: str | None = None) -> dict[str, Any]:
        """The settings as Triton answers them: strings, and trace_level as a list."""
        values = self.effective(model)
        policy = self.policy(model) if model is not None else self.server
        return {
            "trace_level": [values["trace_level"]],
            "trace_rate": str(values["trace_rate"]),
            "trace_count": str(policy.count),
            "log_frequency": str(values["log_frequency"]),
            "trace_mode": "opentelemetry",
        }

    def update(self, changes: dict[str, Any], model: str | None = None) -> None:
        """Apply a POST's settings (all checked first: one bad value changes nothing). JSON null
        clears a model's override, or restores the server's startup value."""
        checked = {name: None if value is None else check(name, value, model) for name, value in changes.items()}
        if model is None:
            for name, value in checked.items():
                self.values[name] = self.startup[name] if value is None else value
            self.server = Policy.of(self.values)
            for name in list(self.models):
                self._rebuild(name)
            return
        own = self.overrides.setdefault(model, {})
        for name, value in checked.items():
            if value is None:
                own.pop(name, None)
            else:
                own[name] = value
        if not own:
            del self.overrides[model]
        self._rebuild(model)

    def _rebuild(self, model: str) -> None:
        if model not in self.overrides:
            self.models.pop(model, None)
            return
        self.models[model] = Policy.of(self.effective(model))
