"""Datatype names of the three worlds we bridge: KServe v2, numpy and ONNX Runtime."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# KServe v2 datatype -> numpy dtype (little-endian, as the binary extension requires).
# BYTES maps to object arrays of `bytes`.
KSERVE_TO_NUMPY: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}

# ONNX Runtime reports tensor types as strings like "tensor(float)".
ORT_TO_KSERVE: dict[str, str] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}

DATATYPES = tuple(KSERVE_TO_NUMPY)


def numpy_dtype(datatype: str) -> np.dtype:
    return KSERVE_TO_NUMPY[datatype]


def kserve_datatype(dtype: np.dtype) -> str:
    return _kserve_datatype(np.dtype(dtype))


@lru_cache(maxsize=64)  # called for every input of every request: a handful of dtypes ever
def _kserve_datatype(dtype: np.dtype) -> str:
    if dtype.kind in ("O", "S", "U"):
        return "BYTES"
    for name, candidate in KSERVE_TO_NUMPY.items():
        if candidate == dtype.newbyteorder("<") or candidate == dtype:
            return name
    raise KeyError(f"no KServe datatype for numpy dtype {dtype}")


def element_size(datatype: str) -> int:
    """Bytes per element in the binary extension; BYTES is variable (returns 0)."""
    if datatype == "BYTES":
        return 0
    return KSERVE_TO_NUMPY[datatype].itemsize
