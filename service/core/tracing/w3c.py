"""W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` a caller sends,
and the `traceresponse` header (Trace Context Level 2) that tells it our trace and span ids.

Parsed by hand, without OpenTelemetry: it runs before the sampling decision, on requests
that will not be traced. A malformed header is ignored, as the specification asks: the
request then starts a trace of its own (when it is sampled).
"""

from __future__ import annotations

from dataclasses import dataclass

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class Parent:
    """The caller's span: our request span continues its trace."""

    trace_id: int
    span_id: int
    sampled: bool
    tracestate: str | None = None


def _hex(text: str, length: int) -> bool:
    return len(text) == length and _HEX.issuperset(text)


def parse_traceparent(value: str | None, tracestate: str | None = None) -> Parent | None:
    """`version-traceid-parentid-flags` (lower-case hex), or None when absent or malformed."""
    if not value:
        return None
    parts = value.strip().split("-")
    if len(parts) < 4:
        return None
    version, trace_id, span_id, flags = parts[:4]
    # Version ff is invalid; version 00 has exactly four fields, later versions may add more.
    if not _hex(version, 2) or version == "ff" or (version == "00" and len(parts) != 4):
        return None
    if not (_hex(trace_id, 32) and _hex(span_id, 16) and _hex(flags, 2)):
        return None
    trace, span = int(trace_id, 16), int(span_id, 16)
    if trace == 0 or span == 0:
        return None
    return Parent(trace, span, bool(int(flags, 16) & 1), tracestate or None)


def traceresponse(trace_id: int, span_id: int) -> str:
    """The value of the `traceresponse` header for a traced (so sampled) request."""
    return f"00-{trace_id:032x}-{span_id:016x}-01"
