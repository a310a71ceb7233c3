"""Tracing: one sampling decision per request, then OpenTelemetry spans for the sampled ones.

`Tracing.on` is a plain attribute the front doors read first: with tracing off a request
pays that one read, and OpenTelemetry is not even imported until tracing is turned on
(at startup or through Triton's trace extension, `/v2/trace/setting` and gRPC TraceSetting).
No HTTP here: the routes are service/api/trace_setting.py, the RPC lives in the servicer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..settings import Settings
from .control import TraceControl
from .w3c import parse_traceparent

if TYPE_CHECKING:
    from .spans import RequestTrace, Spans

__all__ = ["Tracing"]

BatchHook = Callable[[list[Any], float, float, float, float, int], None]


class Tracing:
    def __init__(self, settings: Settings) -> None:
        self.control = TraceControl({
            "trace_level": settings.trace_level, "trace_rate": settings.trace_rate,
            "trace_count": settings.trace_count, "log_frequency": settings.trace_log_frequency,
        })
        self.spans: Spans | None = None
        self.on = False
        self._refresh()

    def _refresh(self) -> None:
        self.on = self.control.on
        if self.on and self.spans is None:
            from .spans import Spans  # the SDK is loaded the first time tracing is turned on

            self.spans = Spans()
        if self.spans is not None:
            self.spans.log_frequency = self.control.values["log_frequency"]

    def begin(self, model: str, traceparent: str | None, tracestate: str | None,
              attributes: dict[str, Any]) -> RequestTrace | None:
        """The request's trace when it is sampled, else None (call only when `on`)."""
        started = time.monotonic()
        parent = parse_traceparent(traceparent, tracestate) if traceparent else None
        if not self.control.policy(model).sample(parent) or self.spans is None:
            return None
        attributes["ortserve.model.name"] = model
        return self.spans.request(f"infer {model}", parent, started, attributes)

    def batch_hook(self, model: str, version: str, provider: str | None) -> BatchHook:
        """What a model version's batcher calls after a batch that served traced requests."""

        def on_traced(traced: list[Any], began: float, input_s: float, compute_s: float, output_s: float,
                      rows: int) -> None:
            if self.spans is not None:
                self.spans.batch(model, version, provider, traced, began, input_s, compute_s, output_s, rows)

        return on_traced

    def document(self, model: str | None = None) -> dict[str, Any]:
        return self.control.document(model)

    def update(self, changes: dict[str, Any], model: str | None = None) -> dict[str, Any]:
        """Apply Triton trace settings (checked; InvalidInput names a bad one); the settings now in force."""
        self.control.update(changes, model)
        self._refresh()
        return self.control.document(model)

    def shutdown(self) -> None:
        if self.spans is not None:
            self.spans.shutdown()
