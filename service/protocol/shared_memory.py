"""Tensors in registered shared-memory regions: the `shared_memory_*` parameters of inputs and outputs.

A tensor in a region carries no data in the request: its parameters name the region,
the byte size and an optional offset (Triton's system shared-memory extension). Its
bytes have the binary extension's layout, so the same decoder reads them. The HTTP
and gRPC decoders both call these with the parameters as plain Python values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core.datatypes import numpy_dtype
from ..core.errors import InvalidInput
from ..core.shared_memory import DISABLED, SharedMemoryRegistry, Slice
from .binary import binary_view, decode_binary_tensor

REGION = "shared_memory_region"
BYTE_SIZE = "shared_memory_byte_size"
OFFSET = "shared_memory_offset"


def in_region(params: Mapping[str, Any]) -> bool:
    return REGION in params


def _slice(regions: SharedMemoryRegistry | None, tensor: str, params: Mapping[str, Any]) -> Slice:
    if regions is None:
        raise InvalidInput(f"{tensor}: {DISABLED}")
    if BYTE_SIZE not in params:
        raise InvalidInput(f"{tensor}: {REGION} needs a {BYTE_SIZE} parameter")
    return regions.slice(tensor, params[REGION], params[BYTE_SIZE], params.get(OFFSET))


def read_input(
    regions: SharedMemoryRegistry | None, name: str, datatype: str, shape: list[int], params: Mapping[str, Any]
) -> np.ndarray:
    """The input's array, read from its region without a copy where its alignment allows."""
    tensor = f"input {name!r}"
    where = _slice(regions, tensor, params)
    if datatype != "BYTES":
        expected = math.prod(shape) * numpy_dtype(datatype).itemsize
        if where.byte_size != expected:
            raise InvalidInput(
                f"{tensor}: shape {shape} of {datatype} needs {expected} bytes, "
                f"but {BYTE_SIZE} is {where.byte_size}"
            )
    array = decode_binary_tensor(name, datatype, shape, where.read(tensor))
    # A region's offsets are the client's choice: ONNX Runtime wants aligned elements.
    return array if array.flags.aligned else array.copy()


def output_slice(regions: SharedMemoryRegistry | None, name: str, params: Mapping[str, Any]) -> Slice | None:
    """Where an output asked to be written, checked against its region before the model runs."""
    return _slice(regions, f"output {name!r}", params) if in_region(params) else None


def write_output(where: Slice, name: str, array: np.ndarray) -> int:
    """Write the output into its region; the bytes written. Its entry in the answer carries no
    data and, as Triton's, no parameters (Triton's C++ HTTP client reads `parameters` as binary data)."""
    return where.write(binary_view(array), f"output {name!r}")
