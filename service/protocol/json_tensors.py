"""Decoding and encoding Open Inference Protocol tensors carried as JSON.

`data` may be flat (row-major) or nested. Values are never coerced lossily:
1.5 is not an INT64, true is not an FP32, 300 is not a UINT8.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core.datatypes import DATATYPES, numpy_dtype
from ..core.errors import InvalidInput

# Far above any tensor the element limit lets through, far below what overflows numpy.
MAX_SHAPE_PRODUCT = 2**40
# float64 holds every integer up to 2**53 exactly; past it, INT64/UINT64 JSON data is re-read exactly.
_FLOAT_EXACT_INTS = 2**53


def check_shape(name: str, shape: Any) -> list[int]:
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise InvalidInput(f"input {name!r}: 'shape' must be a list of integers, got {shape!r}")
    if any(d < 0 for d in shape):
        raise InvalidInput(f"input {name!r}: 'shape' must not contain negative dims, got {shape}")
    if math.prod(d for d in shape if d) > MAX_SHAPE_PRODUCT:
        # Even with a zero dim, numpy cannot represent such a shape (reshape raises ValueError).
        raise InvalidInput(f"input {name!r}: 'shape' {shape} is too large")
    return shape


def check_datatype(name: str, datatype: Any) -> str:
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise InvalidInput(f"input {name!r}: 'datatype' must be one of {list(DATATYPES)}, got {datatype!r}")
    return datatype


def _to_numeric(name: str, datatype: str, values: np.ndarray) -> np.ndarray:
    target = numpy_dtype(datatype)
    kind = values.dtype.kind
    if values.size == 0:
        return values.astype(target)  # `[]` (numpy reads it as float64) is a valid empty tensor of any type
    if datatype == "BOOL":
        if kind != "b":
            raise InvalidInput(f"input {name!r}: BOOL data must be true/false, got {values.dtype.name} values")
        return values
    if kind not in "iuf":
        raise InvalidInput(f"input {name!r}: {datatype} data must be numbers, got {values.dtype.name} values")
    if target.kind == "f":
        with np.errstate(over="ignore"):  # overflow is detected just below, with a clear message
            converted = values.astype(target)
        if not np.isfinite(converted[np.isfinite(values)]).all():
            raise InvalidInput(f"input {name!r}: values overflow {datatype}")
        return converted
    if kind == "f" and not (np.isfinite(values).all() and (values == np.round(values)).all()):
        raise InvalidInput(f"input {name!r}: {datatype} data must be integers, got non-integral numbers")
    info = np.iinfo(target)
    low, high = values.min(), values.max()
    if kind == "f":  # compare as exact ints: float(2**63 - 1) is 2**63, one past INT64's max
        low, high = int(low), int(high)
    if low < info.min or high > info.max:
        raise InvalidInput(f"input {name!r}: values out of range for {datatype} [{info.min}, {info.max}]")
    return values.astype(target)


def decode_json_data(name: str, datatype: str, shape: list[int], data: Any) -> np.ndarray:
    """Turn a JSON `data` field into an array of `shape`, checking the element count."""
    expected = math.prod(shape)
    if not isinstance(data, list):
        raise InvalidInput(f"input {name!r}: 'data' must be a JSON array, got {type(data).__name__}")
    if datatype == "BYTES":
        flat = _flatten(name, data)
        if not all(isinstance(v, str) for v in flat):
            raise InvalidInput(f"input {name!r}: BYTES data must be strings")
        # Kept as text: ORT string tensors take `str`, so JSON strings need no UTF-8 pass at all.
        values = np.empty(len(flat), dtype=object)
        values[:] = flat
    else:
        try:
            values = np.asarray(data)
        except ValueError:
            raise InvalidInput(f"input {name!r}: nested 'data' is ragged; expected shape {shape}") from None
        if values.dtype == object or values.dtype.kind in "US":
            raise InvalidInput(f"input {name!r}: {datatype} data must be a (nested) array of numbers")
        if datatype != "BOOL" and values.dtype.kind != "b" and _has_bool(data):
            # numpy reads [true, 0] as [1, 0]: a bool among numbers is a client bug, not a 1.
            raise InvalidInput(f"input {name!r}: {datatype} data must be numbers, got true/false values")
        if values.dtype.kind == "f" and numpy_dtype(datatype).kind in "iu" and values.size \
                and np.abs(values).max() >= _FLOAT_EXACT_INTS:
            values = _exact_ints(name, datatype, _flatten(name, data))
        values = _to_numeric(name, datatype, values.reshape(-1))
    if values.size != expected:
        raise InvalidInput(
            f"input {name!r}: shape {shape} needs {expected} elements, but 'data' has {values.size}"
        )
    return values.reshape(shape)


def _has_bool(data: list[Any]) -> bool:
    """Whether any element of (nested) JSON data is true/false; type() per element runs in C."""
    flat = _flatten("", data) if data and isinstance(data[0], list) else data
    return bool in set(map(type, flat))


def _exact_ints(name: str, datatype: str, flat: list[Any]) -> np.ndarray:
    """numpy reads [0, 2**63 + 1] as float64, which rounds past 2**53: take the JSON ints exactly."""
    if not all(
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()) for v in flat
    ):
        raise InvalidInput(f"input {name!r}: {datatype} data must be integers, got non-integral numbers")
    ints = [int(v) for v in flat]
    info = np.iinfo(numpy_dtype(datatype))
    if min(ints) < info.min or max(ints) > info.max:
        raise InvalidInput(f"input {name!r}: values out of range for {datatype} [{info.min}, {info.max}]")
    return np.array(ints, dtype=numpy_dtype(datatype))


def _flatten(name: str, data: list[Any], depth: int = 0) -> list[Any]:
    if depth > 32:
        raise InvalidInput(f"input {name!r}: 'data' nests deeper than 32 levels")
    flat: list[Any] = []
    for item in data:
        if isinstance(item, list):
            flat.extend(_flatten(name, item, depth + 1))
        else:
            flat.append(item)
    return flat


def encode_json_data(array: np.ndarray) -> Any:
    """Row-major flat data, as the spec's canonical form. orjson serialises numpy directly."""
    flat = np.ascontiguousarray(array).reshape(-1)
    if flat.dtype == object:
        return [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v) for v in flat]
    if flat.dtype == np.float16:
        return flat.astype(np.float32)
    return flat
