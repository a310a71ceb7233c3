from __future__ import annotations

import numpy as np
import pytest

from service.core.config import ModelConfig
from service.core.errors import InvalidInput, PayloadTooLarge
from service.core.validation import check_inputs
from tests.tiny_models import AFFINE_CONFIG, SEQUENCE_CONFIG

AFF = ModelConfig.model_validate(AFFINE_CONFIG)
SEQ = ModelConfig.model_validate(SEQUENCE_CONFIG)


def check(config, tensors, **kw):
    check_inputs(config, tensors, max_elements=kw.pop("max_elements", 10_000), **kw)


def test_accepts_declared_inputs():
    check(AFF, {"x": np.zeros((3, 4), np.float32)})


def test_wrong_shape_names_model_input_expected_and_received():
    with pytest.raises(InvalidInput, match=r"model 'affine', input 'x': expected shape \[-1, 4\] \(-1 = any\), got \[3, 5\]"):
        check(AFF, {"x": np.zeros((3, 5), np.float32)})


def test_wrong_datatype():
    with pytest.raises(InvalidInput, match="input 'x': expected datatype FP32, got FP64"):
        check(AFF, {"x": np.zeros((1, 4), np.float64)})


def test_missing_and_unknown_inputs():
    with pytest.raises(InvalidInput, match=r"missing input\(s\) \['lengths'\]; expected \['frames', 'lengths'\]"):
        check(SEQ, {"frames": np.zeros((1, 2, 3), np.float32)})
    with pytest.raises(InvalidInput, match=r"unknown input\(s\) \['w'\]"):
        check(AFF, {"x": np.zeros((1, 4), np.float32), "w": np.zeros(1)})


def test_batch_dims_must_agree():
    with pytest.raises(InvalidInput, match="batch dimension 2 differs from other inputs' 1"):
        check(SEQ, {"frames": np.zeros((1, 2, 3), np.float32), "lengths": np.zeros(2, np.int64)})


def test_nan_rejected_unless_allowed():
    bad = np.array([[1, np.nan, 0, 0]], np.float32)
    with pytest.raises(InvalidInput, match="NaN or Inf values are not allowed"):
        check(AFF, {"x": bad})
    check(AFF.model_copy(update={"allow_nonfinite": True}), {"x": bad})


def test_element_and_sequence_limits():
    with pytest.raises(PayloadTooLarge, match="40 elements exceed the limit of 10"):
        check(AFF, {"x": np.zeros((10, 4), np.float32)}, max_elements=10)
    with pytest.raises(PayloadTooLarge, match="axis 'time' has length 9, over the limit of 8"):
        check(SEQ, {"frames": np.zeros((1, 9, 3), np.float32), "lengths": np.zeros(1, np.int64)}, max_sequence=8)


def test_rows_over_max_batch_size_are_refused_before_queueing():
    with pytest.raises(InvalidInput, match=r"^model 'affine': batch of 9 rows exceeds max_batch_size 8$"):
        check(AFF, {"x": np.zeros((9, 4), np.float32)})


# -- the tensor API's values: Triton's policy for floats, hard checks for integers ------------------

RANGED = ModelConfig.model_validate({
    **AFFINE_CONFIG, "input": [{**AFFINE_CONFIG["input"][0], "value_range": [0, 1]}],
})
IDS = ModelConfig.model_validate({
    **SEQUENCE_CONFIG, "input": [SEQUENCE_CONFIG["input"][0], {**SEQUENCE_CONFIG["input"][1], "value_range": [1, 9]}],
})
LENGTHS = ModelConfig.model_validate({
    **SEQUENCE_CONFIG, "input": [SEQUENCE_CONFIG["input"][0], {**SEQUENCE_CONFIG["input"][1], "length_of": "time"}],
})


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e38, -2.0, 1.5])
def test_a_float_out_of_range_is_taken_as_sent_and_named_on_the_tensor_api(value):
    x = np.array([[0.5, value, 0, 1]], np.float32)
    accepted: list[str] = []
    inputs = check_inputs(RANGED, {"x": x}, max_elements=100, accepted=accepted)
    assert inputs["x"] is x and accepted == ["x"]
    with pytest.raises(InvalidInput, match="input 'x': (NaN or Inf values are not allowed|value .* is outside)"):
        check(RANGED, {"x": x})  # the friendly endpoints' policy: refused


def test_floats_within_their_range_are_not_counted():
    accepted: list[str] = []
    check_inputs(RANGED, {"x": np.array([[0, 0.25, 0.5, 1]], np.float32)}, max_elements=100, accepted=accepted)
    check_inputs(AFF, {"x": np.array([[-1e30, 0, 1, 1e30]], np.float32)}, max_elements=100, accepted=accepted)
    assert accepted == []


def test_nan_is_not_counted_for_a_model_that_allows_it_unless_a_finite_value_is_outside():
    allowing = RANGED.model_copy(update={"allow_nonfinite": True})
    accepted: list[str] = []
    check_inputs(allowing, {"x": np.array([[np.nan, 0, 1, 0.5]], np.float32)}, max_elements=100, accepted=accepted)
    assert accepted == []
    check_inputs(allowing, {"x": np.array([[np.nan, 0, 2, 0.5]], np.float32)}, max_elements=100, accepted=accepted)
    assert accepted == ["x"]


def test_integer_ids_and_lengths_keep_their_hard_checks_on_the_tensor_api():
    frames = np.zeros((1, 3, 3), np.float32)
    with pytest.raises(InvalidInput, match=r"input 'lengths': value 0 at index \[0\] is outside value_range \[1, 9\]"):
        check_inputs(IDS, {"frames": frames, "lengths": np.array([0])}, max_elements=100, accepted=[])
    with pytest.raises(InvalidInput, match=r"input 'lengths': value 4 at index \[0\] is outside \[1, 3\]"):
        check_inputs(LENGTHS, {"frames": frames, "lengths": np.array([4])}, max_elements=100, accepted=[])


def test_one_number_per_item_is_also_taken_with_tritons_trailing_axis_of_one():
    frames = np.zeros((2, 3, 3), np.float32)
    inputs = check_inputs(SEQ, {"frames": frames, "lengths": np.array([[3], [2]])}, max_elements=100)
    assert inputs["lengths"].shape == (2,) and inputs["lengths"].tolist() == [3, 2]
    with pytest.raises(InvalidInput, match=r"input 'lengths': expected shape \[-1\] \(-1 = any\), got \[2, 2\]"):
        check(SEQ, {"frames": frames, "lengths": np.array([[3, 3], [2, 2]])})


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_non_finite_value_is_counted_even_without_a_value_range(value):
    # Without a declared range every finite value is in range: only NaN and Inf are garbage.
    accepted: list[str] = []
    check_inputs(AFF, {"x": np.array([[0, value, 1, 2]], np.float32)}, max_elements=100, accepted=accepted)
    assert accepted == ["x"]
