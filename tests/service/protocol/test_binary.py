from __future__ import annotations

import struct

import numpy as np
import pytest

from service.core.errors import InvalidInput
from service.protocol.binary import (
    BinaryReader,
    decode_binary_tensor,
    decode_bytes_elements,
    encode_binary_tensor,
    split_body,
)


def test_split_body_uses_the_header_length():
    header, rest = split_body(b'{"a":1}RAW', "7")
    assert header == b'{"a":1}' and bytes(rest) == b"RAW"


@pytest.mark.parametrize("value, message", [("x", "must be an integer, got 'x'"), ("99", "is 99 but the body has only 3 bytes")])
def test_malformed_header_length(value, message):
    with pytest.raises(InvalidInput, match=message):
        split_body(b"abc", value)


def test_numeric_round_trip_is_little_endian():
    array = np.arange(6, dtype=np.int32).reshape(2, 3)
    raw = encode_binary_tensor(array)
    assert raw[:4] == struct.pack("<i", 0)
    np.testing.assert_array_equal(decode_binary_tensor("x", "INT32", [2, 3], memoryview(raw)), array)


def test_size_mismatch_names_expected_and_received():
    with pytest.raises(InvalidInput, match=r"input 'x': shape \[2\] of FP32 needs 8 bytes, but binary_data_size is 4"):
        decode_binary_tensor("x", "FP32", [2], memoryview(b"\0" * 4))


def test_bytes_elements_carry_length_prefixes():
    array = np.array([b"ab", b"", b"xyz"], dtype=object)
    raw = encode_binary_tensor(array)
    assert raw == b"\x02\0\0\0ab\0\0\0\0\x03\0\0\0xyz"
    assert list(decode_bytes_elements("s", memoryview(raw), 3)) == [b"ab", b"", b"xyz"]


def test_truncated_bytes_element():
    with pytest.raises(InvalidInput, match="BYTES element 0 declares 5 bytes but only 2 remain"):
        decode_bytes_elements("s", memoryview(b"\x05\0\0\0ab"), 1)


def test_reader_bounds():
    reader = BinaryReader(memoryview(b"abcdef"))
    assert bytes(reader.take("a", 4)) == b"abcd"
    with pytest.raises(InvalidInput, match="binary_data_size 3 runs past the end of the body \\(2 bytes left\\)"):
        reader.take("b", 3)
    with pytest.raises(InvalidInput, match="body has 2 bytes after the last binary tensor"):
        reader.finish()
    with pytest.raises(InvalidInput, match="must be a non-negative integer, got -1"):
        reader.take("c", -1)


def test_a_numeric_answer_is_encoded_without_a_copy():
    import numpy as np

    from service.protocol.binary import binary_view, encode_binary_tensor

    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    view = binary_view(array)
    assert bytes(view) == encode_binary_tensor(array) == array.tobytes()
    array[0, 0] = 42.0  # the view reads the array's own memory
    assert np.frombuffer(view, np.float32)[0] == 42.0
    big_endian = np.arange(3, dtype=">i4")
    assert bytes(binary_view(big_endian)) == np.arange(3, dtype="<i4").tobytes()
    assert binary_view(np.zeros((0, 4), np.float32)) == b""
