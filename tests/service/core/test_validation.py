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
