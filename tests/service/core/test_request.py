"""The core's typed request (core/request.py): deadlines and the `timeout` parameter."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from service.core.errors import InvalidInput, status_code_for
from service.core.request import Deadline, InferRequest, timeout_parameter


class Clock:
    """time.monotonic, moved by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("service.core.request.time.monotonic", clock)
    return clock


def test_after_counts_from_now(clock):
    deadline = Deadline.after(2.5)
    assert (deadline.seconds, deadline.at) == (2.5, 1002.5)


def test_remaining_shrinks_with_time_and_goes_negative_once_passed(clock):
    deadline = Deadline.after(2.0)
    assert deadline.remaining() == 2.0
    clock.now += 0.5
    assert deadline.remaining() == 1.5
    clock.now += 3.0
    assert deadline.remaining() == -1.5


def test_earlier_keeps_this_deadline_unless_the_other_comes_first(clock):
    deadline = Deadline.after(5.0)
    assert deadline.earlier(None) is deadline
    assert deadline.earlier(10.0) is deadline
    assert deadline.earlier(5.0) is deadline  # a tie keeps this one
    sooner = deadline.earlier(1.0)
    assert (sooner.seconds, sooner.at) == (1.0, 1001.0)


def test_earlier_counts_the_other_from_now_not_from_the_arrival(clock):
    deadline = Deadline.after(5.0)  # at 1005
    clock.now += 3.0  # 2 s left
    assert deadline.earlier(2.5) is deadline
    sooner = deadline.earlier(1.5)
    assert (sooner.seconds, sooner.at) == (1.5, 1004.5)


def test_a_deadline_is_frozen():
    deadline = Deadline(1.0, 2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        deadline.at = 3.0


@pytest.mark.parametrize("value, seconds", [
    (None, None), (1, 1.0), (0.25, 0.25), (30, 30.0), (1e-9, 1e-9), (1e308, 1e308), (np.float64(2.0), 2.0),
])
def test_timeout_parameter_accepts_positive_finite_numbers(value, seconds):
    result = timeout_parameter(value)
    assert result == seconds
    assert result is None or type(result) is float


@pytest.mark.parametrize("value, shown", [
    (0, "0"), (0.0, "0.0"), (-1, "-1"), (-0.5, "-0.5"),
    (True, "True"), (False, "False"),
    ("5", "'5'"), ("1.5", "'1.5'"), ("", "''"),
    (math.inf, "inf"), (-math.inf, "-inf"), (math.nan, "nan"),
    ([1], "[1]"), ({"s": 1}, "{'s': 1}"),
])
def test_timeout_parameter_refuses_everything_else_naming_the_value(value, shown):
    with pytest.raises(InvalidInput) as info:
        timeout_parameter(value)
    assert info.value.message == f"parameter 'timeout' must be a positive number of seconds, got {shown}"
    assert status_code_for(info.value) == 400


def test_timeout_parameter_names_its_unit():
    assert timeout_parameter(250, "milliseconds") == 250.0
    with pytest.raises(InvalidInput) as info:
        timeout_parameter(-250, "milliseconds")
    assert info.value.message == "parameter 'timeout' must be a positive number of milliseconds, got -250"


def test_an_infer_request_defaults_to_every_output_no_deadline_and_no_id():
    x = np.zeros((1, 4), np.float32)
    request = InferRequest("affine", None, {"x": x})
    assert (request.model, request.version, request.outputs, request.deadline, request.id) == (
        "affine", None, None, None, None,
    )
    assert request.inputs["x"] is x


def test_tritons_timeout_is_in_microseconds():
    from service.core.request import triton_timeout

    assert triton_timeout(None) is None
    deadline = triton_timeout(500_000)  # what tritonclient's infer(timeout=500000) sends: half a second
    assert deadline is not None and deadline.seconds == 0.5 and 0.49 < deadline.remaining() <= 0.5
    with pytest.raises(InvalidInput) as info:
        triton_timeout(0)
    assert info.value.message == "parameter 'timeout' must be a positive number of microseconds, got 0"


def test_a_request_checks_floats_strictly_unless_its_front_door_says_triton():
    from service.core.request import FloatChecks

    assert InferRequest("m", None, {}).floats is FloatChecks.STRICT
