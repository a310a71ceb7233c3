"""W3C traceparent parsing: what is continued, what is ignored, and the traceresponse we answer."""

from __future__ import annotations

import pytest

from service.core.tracing.w3c import Parent, parse_traceparent, traceresponse

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def test_a_sampled_parent_is_read_with_its_tracestate():
    parent = parse_traceparent(f"00-{TRACE}-{SPAN}-01", "congo=t61rcWkgMzE")
    assert parent == Parent(int(TRACE, 16), int(SPAN, 16), True, "congo=t61rcWkgMzE")


def test_the_sampled_flag_is_bit_zero_of_the_flags():
    assert parse_traceparent(f"00-{TRACE}-{SPAN}-00").sampled is False
    assert parse_traceparent(f"00-{TRACE}-{SPAN}-03").sampled is True
    assert parse_traceparent(f"00-{TRACE}-{SPAN}-02").sampled is False


def test_a_later_version_may_carry_more_fields():
    assert parse_traceparent(f"cc-{TRACE}-{SPAN}-01-what-the-future-holds") is not None


@pytest.mark.parametrize("value", [
    None, "", "garbage",
    f"00-{TRACE}-{SPAN}-01-extra",  # version 00 has exactly four fields
    f"ff-{TRACE}-{SPAN}-01",  # version ff is invalid
    f"00-{TRACE.upper()}-{SPAN}-01",  # upper-case hex
    f"00-{'0' * 32}-{SPAN}-01",  # all-zero trace id
    f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
    f"00-{TRACE[:-1]}-{SPAN}-01",
    f"00-{TRACE}-{SPAN}-1",
    f"0x-{TRACE}-{SPAN}-01",
])
def test_a_malformed_header_is_ignored(value):
    assert parse_traceparent(value) is None


def test_traceresponse_names_our_trace_and_span_as_sampled():
    assert traceresponse(int(TRACE, 16), int(SPAN, 16)) == f"00-{TRACE}-{SPAN}-01"
    assert traceresponse(1, 2) == f"00-{'0' * 31}1-{'0' * 15}2-01"
