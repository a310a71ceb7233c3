"""Declared value constraints, checked per request before queueing."""

from __future__ import annotations

import numpy as np
import pytest

from service.core.config import ModelConfig
from service.core.errors import InvalidInput
from service.core.validation import check_inputs

LANG = ModelConfig.model_validate({
    "name": "lang",
    "max_batch_size": 8,
    "input": [
        {"name": "tokens", "datatype": "INT64", "dims": [-1], "axis_names": ["seq"], "value_range": [0, 99]},
        {"name": "mask", "datatype": "INT64", "dims": [-1], "axis_names": ["seq"], "allowed_values": [0, 1]},
    ],
    "output": [{"name": "p", "datatype": "FP32", "dims": [3]}],
})
VOWELS = ModelConfig.model_validate({
    "name": "vowels",
    "max_batch_size": 8,
    "input": [
        {"name": "frames", "datatype": "FP32", "dims": [-1, 2], "axis_names": ["time", None], "value_range": [-5, 5]},
        {"name": "lengths", "datatype": "INT64", "dims": [], "length_of": "time"},
    ],
    "output": [{"name": "p", "datatype": "FP32", "dims": [3]}],
})


def check(config, **tensors):
    check_inputs(config, tensors, max_elements=10_000)


def ids(*rows):
    return np.array(rows, dtype=np.int64)


def test_values_inside_every_constraint_pass():
    check(LANG, tokens=ids([0, 99, 5]), mask=ids([1, 1, 0]))
    check(VOWELS, frames=np.zeros((2, 3, 2), np.float32), lengths=ids(1, 3))


@pytest.mark.parametrize("bad, message", [
    (ids([3, 99999]), "value 99999 at index [0, 1] is outside value_range [0, 99]"),
    (ids([-4, 3]), "value -4 at index [0, 0] is outside value_range [0, 99]"),
])
def test_an_id_outside_its_range_names_input_rule_and_value(bad, message):
    with pytest.raises(InvalidInput) as err:
        check(LANG, tokens=bad, mask=ids([1, 1]))
    assert err.value.message == f"model 'lang', input 'tokens': {message}"


def test_a_mask_value_other_than_zero_or_one_is_refused():
    with pytest.raises(InvalidInput) as err:
        check(LANG, tokens=ids([1, 2]), mask=ids([1, 2]))
    assert err.value.message == "model 'lang', input 'mask': value 2 at index [0, 1] is outside allowed_values [0, 1]"


@pytest.mark.parametrize("length", [0, -3, 5])
def test_lengths_must_fit_the_frames_sent(length):
    with pytest.raises(InvalidInput) as err:
        check(VOWELS, frames=np.zeros((1, 2, 2), np.float32), lengths=ids(length))
    assert err.value.message == (
        f"model 'vowels', input 'lengths': value {length} at index [0] is outside "
        "[1, 2] (length_of axis 'time', 2 long)"
    )


def test_a_float_range_reports_the_float():
    frames = np.zeros((1, 2, 2), np.float32)
    frames[0, 1, 0] = 7.5
    with pytest.raises(InvalidInput, match=r"input 'frames': value 7\.5 at index \[0, 1, 0\] is outside value_range \[-5, 5\]$"):
        check(VOWELS, frames=frames, lengths=ids(2))


@pytest.mark.parametrize("spec, problem", [
    ({"value_range": [5, 1]}, "value_range low must not exceed high, got [5.0, 1.0]"),
    ({"allowed_values": []}, "allowed_values must not be empty"),
    ({"datatype": "BYTES", "value_range": [0, 1]}, "value constraints apply to numeric tensors, not BYTES"),
    ({"length_of": "time"}, "input 'x': length_of names axis 'time', but the inputs declare only []"),
])
def test_inconsistent_constraints_are_config_errors(spec, problem):
    raw = {"name": "m", "input": [{"name": "x", "datatype": "INT64", "dims": [1], **spec}],
           "output": [{"name": "y", "datatype": "FP32", "dims": [1]}]}
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        ModelConfig.model_validate(raw)
