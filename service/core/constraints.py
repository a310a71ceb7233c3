"""Per-input value constraints declared in the config (`value_range`, `allowed_values`, `length_of`).

A value the graph cannot take (a token id past the embedding, a length longer
than its sequence) fails the whole ONNX Runtime call, and with dynamic batching
that call carries other clients' requests. So these are checked on each request
alone, before it is queued. Messages name the input, the constraint and the
first offending value with its index: only the sender's own data.
"""

from __future__ import annotations

import numpy as np

from .config import ModelConfig, TensorSpec
from .errors import InvalidInput


def _number(value: float) -> str:
    """12.0 -> "12", 0.5 -> "0.5": limits read as they were written in the config."""
    return f"{int(value)}" if float(value).is_integer() else f"{value:g}"


def _first_bad(array: np.ndarray, bad: np.ndarray) -> tuple[object, list[int]]:
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    return array[index].item(), list(index)


def _fail(model: str, name: str, array: np.ndarray, bad: np.ndarray, rule: str) -> None:
    value, index = _first_bad(array, bad)
    raise InvalidInput(f"value {value!r} at index {index} is outside {rule}", model=model, input=name)


def axis_length(config: ModelConfig, inputs: dict[str, np.ndarray], axis: str) -> int:
    """Length of a named axis in one request (the longest input that carries it)."""
    offset = 1 if config.batched else 0
    lengths = [
        inputs[spec.name].shape[i + offset]
        for spec in config.input
        for i, name in enumerate(spec.axis_names or [])
        if name == axis and spec.name in inputs
    ]
    return int(max(lengths))


def check_values(config: ModelConfig, spec: TensorSpec, inputs: dict[str, np.ndarray]) -> None:
    """Raise InvalidInput when `inputs[spec.name]` breaks a constraint `spec` declares."""
    array = inputs[spec.name]
    where = (config.name, spec.name)
    if array.size == 0:
        return
    if spec.value_range is not None:
        low, high = spec.value_range
        # min/max first: one pass each, and the common (valid) case stops here.
        if array.min() < low or array.max() > high:
            _fail(*where, array, (array < low) | (array > high), f"value_range [{_number(low)}, {_number(high)}]")
    if spec.allowed_values is not None:
        bad = ~np.isin(array, np.asarray(spec.allowed_values))
        if bad.any():
            allowed = ", ".join(_number(v) for v in spec.allowed_values)
            _fail(*where, array, bad, f"allowed_values [{allowed}]")
    if spec.length_of is not None:
        length = axis_length(config, inputs, spec.length_of)
        bad = (array < 1) | (array > length)
        if bad.any():
            _fail(*where, array, bad, f"[1, {length}] (length_of axis {spec.length_of!r}, {length} long)")
