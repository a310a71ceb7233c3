"""Everything checkable about one request against its model, checked before it is queued, in one place.

Names, datatypes, shapes, size limits, NaN/Inf, BYTES as text, the declared value
constraints, the row limit and the requested outputs (the request's form and its
timeout were checked by the front door that decoded it). A batch then can only
fail for reasons no single request caused; the batcher only schedules. Every
message names the model, the input, what was expected and what was received, and
only the sender's own values.

On the tensor API float values are Triton's: taken as sent (each row of a batch is
computed on its own, so a garbage row cannot change a batch-mate's answer) and only
counted. Integer constraints (ids, lengths) are checked on every path: ORT indexes with them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .config import ModelConfig, TensorSpec
from .constraints import check_values
from .datatypes import kserve_datatype
from .errors import InvalidInput, PayloadTooLarge


def check_inputs(
    config: ModelConfig,
    tensors: dict[str, np.ndarray],
    *,
    max_elements: int,
    max_sequence: int | None = None,
    accepted: list[str] | None = None,
) -> dict[str, np.ndarray]:
    """Raise on the first problem; return the inputs as the runtime takes them (BYTES as `str`).

    With `accepted` (Triton's policy), float inputs are taken as sent, and the names of
    those holding NaN, Inf or values outside their constraints are appended to it."""
    model = config.name
    declared = config.input_names
    if len(tensors) != len(declared) or not all(n in tensors for n in declared):
        unknown = sorted(set(tensors) - set(declared))
        if unknown:
            raise InvalidInput(f"unknown input(s) {unknown}; expected {declared}", model=model)
        missing = [n for n in declared if n not in tensors]
        raise InvalidInput(f"missing input(s) {missing}; expected {declared}", model=model)
    rows: int | None = None
    for spec in config.input:
        name = spec.name
        array = tensors[name]
        datatype = kserve_datatype(array.dtype)
        if datatype != spec.datatype:
            raise InvalidInput(f"expected datatype {spec.datatype}, got {datatype}", model=model, input=name)
        if array.size > max_elements:
            raise PayloadTooLarge(f"{array.size} elements exceed the limit of {max_elements}", model=model, input=name)
        expected = ([-1] if config.batched else []) + spec.dims
        shape = list(array.shape)
        if not spec.dims and len(shape) == len(expected) + 1 and shape[-1] == 1:
            # One number per item, sent as Triton's `dims: [1]` (what metadata shows): drop that axis.
            shape.pop()
            array = tensors[name] = array.reshape(shape)
        if len(shape) != len(expected) or any(e not in (-1, s) for e, s in zip(expected, shape)):
            raise InvalidInput(f"expected shape {expected} (-1 = any), got {shape}", model=model, input=name)
        if config.batched:
            if shape[0] < 1:
                raise InvalidInput(f"batch dimension must be at least 1, got {shape[0]}", model=model, input=name)
            if rows is not None and shape[0] != rows:
                raise InvalidInput(
                    f"batch dimension {shape[0]} differs from other inputs' {rows}", model=model, input=name)
            rows = shape[0]
        if max_sequence is not None and spec.axis_names:
            for axis, axis_name in enumerate(spec.axis_names):
                length = shape[axis + (1 if config.batched else 0)]
                if axis_name and length > max_sequence:
                    raise PayloadTooLarge(f"axis {axis_name!r} has length {length}, over the limit of {max_sequence}",
                                          model=model, input=name)
        if array.dtype.kind == "f":
            allow = config.allow_nonfinite if spec.allow_nonfinite is None else spec.allow_nonfinite
            if accepted is not None:
                if array.size and outside(spec, array, allow):
                    accepted.append(name)
                continue
            if not allow and not np.isfinite(array).all():
                raise InvalidInput("NaN or Inf values are not allowed for this model", model=model, input=name)
        elif spec.datatype == "BYTES":
            tensors[name] = as_text(array, model, name)
        check_values(config, spec, tensors)
    if rows is not None and rows > config.max_batch_size:
        raise InvalidInput(f"batch of {rows} rows exceeds max_batch_size {config.max_batch_size}", model=model)
    return tensors


def outside(spec: TensorSpec, array: np.ndarray, allow_nonfinite: bool) -> bool:
    """Whether a float tensor holds NaN/Inf (unless allowed) or values its constraints exclude.

    One min/max pair answers both questions in the common case: a NaN or an Inf
    anywhere makes the minimum or the maximum non-finite."""
    if allow_nonfinite:
        if spec.value_range is None and spec.allowed_values is None:
            return False
        array = array[np.isfinite(array)]  # rare configs: only the finite values are judged
        if not array.size:
            return False
    smallest, largest = float(array.min()), float(array.max())
    if not (math.isfinite(smallest) and math.isfinite(largest)):
        return True
    low, high = spec.value_range or (-math.inf, math.inf)
    if not (low <= smallest and largest <= high):
        return True
    return spec.allowed_values is not None and not np.isin(array, spec.allowed_values).all()


def as_text(array: np.ndarray, model: str, name: str) -> np.ndarray:
    """ONNX Runtime string tensors hold text: each BYTES element is decoded from UTF-8 here,
    the one pass it gets (JSON strings arrive as text and are kept as they are)."""
    flat = array.reshape(-1)
    if all(type(v) is str for v in flat):
        return array
    out = np.empty(flat.shape, dtype=object)
    for index, value in enumerate(flat):
        if type(value) is str:
            out[index] = value
            continue
        try:
            out[index] = bytes(value).decode("utf-8")
        except (UnicodeDecodeError, TypeError):
            raise InvalidInput(f"BYTES element {index} is not valid UTF-8 text", model=model, input=name) from None
    return out.reshape(array.shape)


def check_outputs(config: ModelConfig, requested: Iterable[str] | None) -> None:
    """Requested outputs must be declared ones: checked before the model runs, not after."""
    if requested is None:
        return
    declared = config.output_datatypes
    unknown = sorted(n for n in requested if n not in declared)
    if unknown:
        raise InvalidInput(f"unknown output(s) {unknown}; expected some of {sorted(declared)}", model=config.name)
