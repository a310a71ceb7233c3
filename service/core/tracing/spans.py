"""The spans of traced requests, built with the OpenTelemetry SDK and sent by its OTLP/HTTP exporter.

Imported only once tracing is turned on. The request path records plain monotonic
timestamps; spans are made from them here, with explicit start and end times and
explicit parents, so no OpenTelemetry context is ever attached to the event loop.

A traced request's trace, small enough to read at a glance:

    infer <model>          SERVER, front door to answer (continues the caller's traceparent)
      queue                waiting for its batch to begin
      assemble batch       stacking and padding the batch's inputs
      unbatch              its rows cut out of the batch's outputs
      encode               the answer's wire format
      cache hit            instead of the three above, when the response cache answered

One span per batch execution (`execute <model>`: the runtime call, with the batch size,
provider and model version) starts a trace of its own, since it serves many requests'
traces: it links to each traced request it served, and each of them links to it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, TraceFlags, TraceState

from ... import __version__
from ..errors import ServiceError
from ..logs import trace_id
from .w3c import Parent, traceresponse

_EMPTY = Context()  # the parent of a span that starts a trace (never the loop's current context)


class RequestTrace:
    """One traced request: its span, and the children the path adds with their own timestamps."""

    __slots__ = ("_context", "_done", "_offset", "_spans", "span", "span_id", "trace_id")

    def __init__(self, spans: Spans, name: str, parent: Parent | None, start: float,
                 attributes: dict[str, Any]) -> None:
        self._spans = spans
        self._offset = spans.clock()
        self._done = False
        context = spans.parent_context(parent) if parent is not None else _EMPTY
        self.span = spans.tracer.start_span(name, context, SpanKind.SERVER, attributes, start_time=self.ns(start))
        self._context = trace.set_span_in_context(self.span)
        span_context = self.span.get_span_context()
        self.trace_id, self.span_id = span_context.trace_id, span_context.span_id

    def ns(self, monotonic: float) -> int:
        return self._offset + round(monotonic * 1e9)

    @property
    def header(self) -> str:
        """`traceresponse`: our trace id and this request's span id."""
        return traceresponse(self.trace_id, self.span_id)

    @property
    def trace_id_hex(self) -> str:
        return f"{self.trace_id:032x}"

    def child(self, name: str, start: float, end: float, attributes: dict[str, Any] | None = None) -> None:
        span = self._spans.tracer.start_span(name, self._context, attributes=attributes, start_time=self.ns(start))
        span.end(end_time=self.ns(end))

    def encoded(self, began: float, version: str | None = None) -> None:
        """The answer was encoded from `began` until now; `version`: the model version that answered."""
        self.child("encode", began, time.monotonic())
        if version is not None:
            self.set("ortserve.model.version", version)

    def set(self, key: str, value: str | int | float | bool) -> None:
        self.span.set_attribute(key, value)

    def link(self, context: trace.SpanContext, attributes: dict[str, Any]) -> None:
        self.span.add_link(context, attributes)

    def fail(self, message: str) -> None:
        """Mark the request as failed, with the words its caller got."""
        self.span.set_status(Status(StatusCode.ERROR, message))

    @contextmanager
    def current(self) -> Iterator[None]:
        """The request's extent, for every front door: its trace id on each log line written
        meanwhile, a ServiceError marking it failed with the words its caller gets, its span
        ended on the way out."""
        token = trace_id.set(self.trace_id_hex)
        try:
            yield
        except ServiceError as exc:
            self.fail(exc.message)
            raise
        finally:
            self.finish()
            trace_id.reset(token)

    def finish(self) -> None:
        """End the request's span (once)."""
        if self._done:
            return
        self._done = True
        self.span.end(end_time=self.ns(time.monotonic()))
        self._spans.ended()


class Spans:
    """The SDK pipeline: TracerProvider -> BatchSpanProcessor -> OTLPSpanExporter (OTEL_* variables)."""

    def __init__(self, log_frequency: int = 0, exporter: SpanExporter | None = None) -> None:
        resource = Resource.create({"service.version": __version__, "process.pid": os.getpid()})
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "ortserve"}))
        # Sampling is decided before a span exists (control.py): whatever gets here is recorded.
        self.provider = TracerProvider(sampler=ALWAYS_ON, resource=resource)
        self.provider.add_span_processor(BatchSpanProcessor(exporter or OTLPSpanExporter()))
        self.tracer = self.provider.get_tracer("ortserve", __version__)
        self.log_frequency = log_frequency
        self._offset, self._synced = time.time_ns() - time.monotonic_ns(), time.monotonic()
        self._ended = 0
        self._flush = threading.Event()
        self._flusher: threading.Thread | None = None

    def clock(self) -> int:
        """Wall-clock ns minus monotonic ns: one offset for a request's and its batch's spans,
        so their edges line up exactly; read again every 10 s to follow clock adjustments."""
        now = time.monotonic()
        if now - self._synced > 10.0:
            self._offset, self._synced = time.time_ns() - time.monotonic_ns(), now
        return self._offset

    @staticmethod
    def parent_context(parent: Parent) -> Context:
        state = TraceState.from_header([parent.tracestate]) if parent.tracestate else None
        span_context = trace.SpanContext(parent.trace_id, parent.span_id, is_remote=True,
                                         trace_flags=TraceFlags(1 if parent.sampled else 0), trace_state=state)
        return trace.set_span_in_context(trace.NonRecordingSpan(span_context), _EMPTY)

    def request(self, name: str, parent: Parent | None, start: float, attributes: dict[str, Any]) -> RequestTrace:
        return RequestTrace(self, name, parent, start, attributes)

    def batch(self, model: str, version: str, provider: str | None, traced: list[Any],
              began: float, input_s: float, compute_s: float, output_s: float, rows: int) -> None:
        """The execution span of one batch, and each traced request's batch-side children.
        `traced` are the batcher's pending requests that carry a RequestTrace (`.trace`, `.enqueued`)."""
        offset = self.clock()
        start, end = began + input_s, began + input_s + compute_s
        span = self.tracer.start_span(
            f"execute {model}", _EMPTY, links=[Link(p.trace.span.get_span_context()) for p in traced],
            attributes={"ortserve.model.name": model, "ortserve.model.version": version,
                        "ortserve.provider": provider or "", "ortserve.batch.size": rows,
                        "ortserve.batch.traced_requests": len(traced)},
            start_time=offset + round(start * 1e9))
        span.end(end_time=offset + round(end * 1e9))
        context = span.get_span_context()
        for pending in traced:
            request: RequestTrace = pending.trace
            request.child("queue", pending.enqueued, began)
            request.child("assemble batch", began, start)
            request.child("unbatch", end, end + output_s)
            request.link(context, {"ortserve.batch.size": rows})

    def ended(self) -> None:
        """A request's trace is complete: with log_frequency N, every N of them are exported at once."""
        if self.log_frequency <= 0:
            return
        self._ended += 1
        if self._ended >= self.log_frequency:
            self._ended = 0
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_forever, name="trace-flush", daemon=True)
                self._flusher.start()
            self._flush.set()  # the export runs off the event loop

    def _flush_forever(self) -> None:
        while True:
            self._flush.wait()
            self._flush.clear()
            self.provider.force_flush()

    def shutdown(self) -> None:
        """Export what is left and stop the exporter (server shutdown)."""
        self.provider.shutdown()
