"""Everything checkable about one request, checked before it is queued, in one place.

Names, datatypes, shapes, size limits, NaN/Inf, UTF-8 of BYTES, the declared
value constraints, the row limit, requested outputs and the timeout. A batch
then can only fail for reasons no single request caused; the batcher only
schedules. Every message names the model, the input, what was expected and
what was received, and only the sender's own values.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .config import ModelConfig
from .constraints import check_values
from .datatypes import kserve_datatype
from .errors import InvalidInput, PayloadTooLarge


def check_inputs(
    config: ModelConfig,
    tensors: dict[str, np.ndarray],
    *,
    max_elements: int,
    max_sequence: int | None = None,
) -> None:
    model = f"model {config.name!r}"
    declared = [s.name for s in config.input]
    unknown = sorted(set(tensors) - set(declared))
    if unknown:
        raise InvalidInput(f"{model}: unknown input(s) {unknown}; expected {declared}")
    missing = [n for n in declared if n not in tensors]
    if missing:
        raise InvalidInput(f"{model}: missing input(s) {missing}; expected {declared}")
    rows: int | None = None
    for spec in config.input:
        array = tensors[spec.name]
        where = f"{model}, input {spec.name!r}"
        datatype = kserve_datatype(array.dtype)
        if datatype != spec.datatype:
            raise InvalidInput(f"{where}: expected datatype {spec.datatype}, got {datatype}")
        if array.size > max_elements:
            raise PayloadTooLarge(f"{where}: {array.size} elements exceed the limit of {max_elements}")
        expected = ([-1] if config.batched else []) + spec.dims
        shape = list(array.shape)
        if len(shape) != len(expected) or any(e not in (-1, s) for e, s in zip(expected, shape)):
            raise InvalidInput(f"{where}: expected shape {expected} (-1 = any), got {shape}")
        if config.batched:
            if shape[0] < 1:
                raise InvalidInput(f"{where}: batch dimension must be at least 1, got {shape[0]}")
            if rows is not None and shape[0] != rows:
                raise InvalidInput(f"{where}: batch dimension {shape[0]} differs from other inputs' {rows}")
            rows = shape[0]
        if max_sequence is not None:
            for axis, name in enumerate(spec.axis_names or []):
                length = shape[axis + (1 if config.batched else 0)]
                if name and length > max_sequence:
                    raise PayloadTooLarge(
                        f"{where}: axis {name!r} has length {length}, over the limit of {max_sequence}"
                    )
        allow = config.allow_nonfinite if spec.allow_nonfinite is None else spec.allow_nonfinite
        if not allow and array.dtype.kind == "f" and not np.isfinite(array).all():
            raise InvalidInput(f"{where}: NaN or Inf values are not allowed for this model")
        if spec.datatype == "BYTES":
            _check_utf8(array, where)
        check_values(config, spec, tensors, where)
    if rows is not None and rows > config.max_batch_size:
        raise InvalidInput(f"{model}: batch of {rows} rows exceeds max_batch_size {config.max_batch_size}")


def _check_utf8(array: np.ndarray, where: str) -> None:
    """ONNX Runtime string tensors hold text: each BYTES element must be UTF-8."""
    for index, value in enumerate(array.reshape(-1)):
        if isinstance(value, str):
            continue
        try:
            bytes(value).decode("utf-8")
        except (UnicodeDecodeError, TypeError):
            raise InvalidInput(f"{where}: BYTES element {index} is not valid UTF-8 text") from None


def check_outputs(config: ModelConfig, requested: Iterable[str] | None) -> None:
    """Requested outputs must be declared ones: checked before the model runs, not after."""
    if requested is None:
        return
    declared = [s.name for s in config.output]
    unknown = sorted(set(requested) - set(declared))
    if unknown:
        raise InvalidInput(f"model {config.name!r}: unknown output(s) {unknown}; expected some of {sorted(declared)}")


def check_timeout(value: object) -> float | None:
    """The `timeout` request parameter: a positive number of seconds, or absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise InvalidInput(f"parameter 'timeout' must be a positive number of seconds, got {value!r}")
    return float(value)
