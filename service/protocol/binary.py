"""The binary tensor data extension (Triton `extension_binary_data.md`).

A body is a JSON header of `Inference-Header-Content-Length` bytes followed by
the raw little-endian tensors, in the order of the tensors that carry a
`binary_data_size` parameter. BYTES elements each carry a 4-byte little-endian
length prefix.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from ..core.datatypes import numpy_dtype
from ..core.errors import InvalidInput

HEADER = "Inference-Header-Content-Length"
_LEN = struct.Struct("<I")


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    """Return (JSON header bytes, the binary remainder)."""
    if header_length is None:
        return body, memoryview(b"")
    try:
        size = int(header_length)
    except ValueError:
        raise InvalidInput(f"header {HEADER} must be an integer, got {header_length!r}") from None
    if size < 0 or size > len(body):
        raise InvalidInput(f"header {HEADER} is {size} but the body has only {len(body)} bytes")
    view = memoryview(body)
    return bytes(view[:size]), view[size:]


def decode_bytes_elements(name: str, buffer: memoryview, count: int) -> np.ndarray:
    if count * _LEN.size > len(buffer):
        # Checked before allocating: a tiny body must not make us allocate `count` slots.
        raise InvalidInput(
            f"input {name!r}: {count} BYTES elements need at least {count * _LEN.size} bytes "
            f"(a 4-byte length prefix each), but binary_data_size is {len(buffer)}"
        )
    out = np.empty(count, dtype=object)
    offset = 0
    for i in range(count):
        if offset + 4 > len(buffer):
            raise InvalidInput(f"input {name!r}: BYTES element {i} is missing its 4-byte length prefix")
        (length,) = _LEN.unpack_from(buffer, offset)
        offset += 4
        if offset + length > len(buffer):
            raise InvalidInput(
                f"input {name!r}: BYTES element {i} declares {length} bytes but only {len(buffer) - offset} remain"
            )
        out[i] = bytes(buffer[offset : offset + length])
        offset += length
    if offset != len(buffer):
        raise InvalidInput(f"input {name!r}: {len(buffer) - offset} trailing bytes after {count} BYTES elements")
    return out


def decode_binary_tensor(name: str, datatype: str, shape: list[int], buffer: memoryview) -> np.ndarray:
    count = math.prod(shape)
    if datatype == "BYTES":
        return decode_bytes_elements(name, buffer, count).reshape(shape)
    dtype = numpy_dtype(datatype)
    expected = count * dtype.itemsize
    if len(buffer) != expected:
        raise InvalidInput(
            f"input {name!r}: shape {shape} of {datatype} needs {expected} bytes, but binary_data_size is {len(buffer)}"
        )
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)


class BinaryReader:
    """Hands out consecutive slices of the binary remainder, checking bounds."""

    def __init__(self, remainder: memoryview) -> None:
        self._data = remainder
        self._offset = 0

    def take(self, name: str, size: object) -> memoryview:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInput(f"input {name!r}: binary_data_size must be a non-negative integer, got {size!r}")
        end = self._offset + size
        if end > len(self._data):
            raise InvalidInput(
                f"input {name!r}: binary_data_size {size} runs past the end of the body "
                f"({len(self._data) - self._offset} bytes left)"
            )
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def finish(self) -> None:
        left = len(self._data) - self._offset
        if left:
            raise InvalidInput(f"request body has {left} bytes after the last binary tensor")


def encode_binary_tensor(array: np.ndarray) -> bytes:
    """The tensor's wire bytes (little-endian; BYTES elements length-prefixed)."""
    return bytes(binary_view(array))


def binary_view(array: np.ndarray) -> bytes | memoryview:
    """The wire bytes without copying a numeric tensor that is already little-endian and
    contiguous: the response body is then assembled with a single copy."""
    if array.dtype == object:
        parts = []
        for value in array.reshape(-1):
            raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts.append(_LEN.pack(len(raw)))
            parts.append(raw)
        return b"".join(parts)
    if array.size == 0:
        return b""  # a memoryview cannot be cast with a zero in its shape
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return np.ascontiguousarray(little).data.cast("B")
