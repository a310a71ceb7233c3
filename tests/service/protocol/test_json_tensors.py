from __future__ import annotations

import numpy as np
import pytest

from service.core.errors import InvalidInput
from service.protocol.json_tensors import decode_json_data, encode_json_data


def test_flat_and_nested_data_decode_alike():
    flat = decode_json_data("x", "FP32", [2, 2], [1, 2, 3, 4])
    nested = decode_json_data("x", "FP32", [2, 2], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(flat, nested)
    assert flat.dtype == np.float32


def test_element_count_must_match_shape():
    with pytest.raises(InvalidInput, match=r"input 'x': shape \[2, 3\] needs 6 elements, but 'data' has 4"):
        decode_json_data("x", "FP32", [2, 3], [1, 2, 3, 4])


@pytest.mark.parametrize(
    "datatype, data, message",
    [
        ("INT64", [1.5], "INT64 data must be integers"),
        ("UINT8", [300], r"out of range for UINT8 \[0, 255\]"),
        ("FP32", [True], "FP32 data must be numbers, got bool"),
        ("BOOL", [1], "BOOL data must be true/false"),
        ("FP16", [1e6], "values overflow FP16"),
        ("FP32", ["a"], "FP32 data must be a \\(nested\\) array of numbers"),
    ],
)
def test_no_lossy_coercion(datatype, data, message):
    with pytest.raises(InvalidInput, match=message):
        decode_json_data("x", datatype, [1], data)


def test_integral_floats_are_accepted_as_ints():
    np.testing.assert_array_equal(decode_json_data("x", "INT64", [2], [1.0, 2.0]), [1, 2])


def test_bytes_stay_text_both_ways():
    # Text in, text out: ORT string tensors take str, so JSON strings need no UTF-8 pass.
    out = decode_json_data("t", "BYTES", [2], ["héllo", "x"])
    assert list(out) == ["héllo", "x"]
    assert encode_json_data(out) == ["héllo", "x"]
    encoded = np.empty(2, dtype=object)
    encoded[:] = ["héllo".encode(), b"x"]  # bytes from another decoder encode the same way
    assert encode_json_data(encoded) == ["héllo", "x"]


def test_ragged_nested_data_is_rejected():
    with pytest.raises(InvalidInput, match="ragged"):
        decode_json_data("x", "FP32", [2, 2], [[1, 2], [3]])


def test_encode_is_row_major_flat():
    out = encode_json_data(np.arange(6, dtype=np.float16).reshape(2, 3))
    assert out.dtype == np.float32 and list(out) == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("datatype", ["FP32", "FP64", "FP16", "INT64", "INT32", "INT8", "UINT8", "UINT64"])
@pytest.mark.parametrize("data", [[True, 0, 0, 0], [0.5, 1.0, False, 2.0], [[1, 2], [True, 3]]])
def test_a_bool_among_numbers_is_never_a_number(datatype, data):
    # numpy alone would read [true, 0, 0, 0] as [1, 0, 0, 0].
    with pytest.raises(InvalidInput) as err:
        decode_json_data("x", datatype, [4], data)
    assert err.value.message == f"input 'x': {datatype} data must be numbers, got true/false values"


@pytest.mark.parametrize("data", [[1, 0], [True, 1], [0.0, 1.0], [[True], [0]]])
def test_numbers_are_never_bools(data):
    with pytest.raises(InvalidInput, match="BOOL data must be true/false"):
        decode_json_data("x", "BOOL", [2], data)
