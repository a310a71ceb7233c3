"""Checking decoded request tensors against a model's declared inputs.

Every message names the model, the input, what was expected and what was received.
"""

from __future__ import annotations

import numpy as np

from .config import ModelConfig
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
