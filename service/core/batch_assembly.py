"""Stacking requests into one batch and cutting the results back out.

Inputs whose axes are named (e.g. "time", "seq") are padded to the longest
request in the batch with the input's declared pad value; outputs that carry
the same axis names are sliced back to each request's own length. This is what
lets a short sequence share a batch with a long one and still get exactly the
answer it would get alone (the model must mask padding; the reference models do).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import ModelConfig


@dataclass(frozen=True)
class Part:
    """Where one request sits in a batch: its rows and its length per named axis."""

    start: int
    stop: int
    lengths: dict[str, int]


def axis_lengths(config: ModelConfig, inputs: dict[str, np.ndarray]) -> dict[str, int]:
    """Length of each named axis in one request (inputs carry the batch axis first)."""
    lengths: dict[str, int] = {}
    for spec in config.input:
        for i, axis in enumerate(spec.axis_names or []):
            if axis is not None:
                lengths[axis] = max(lengths.get(axis, 0), inputs[spec.name].shape[i + 1])
    return lengths


def batch_key(config: ModelConfig, inputs: dict[str, np.ndarray]) -> tuple[Any, ...]:
    """Requests can share a batch only when their unnamed dims agree, and, when the
    config declares `length_buckets`, when their longest named axis falls in one bucket.

    Named axes are padded, so their lengths are left out of the key.
    """
    key: list[Any] = []
    for spec in config.input:
        shape = inputs[spec.name].shape[1:]
        key.append(tuple(-1 if spec.axis_name(i) else d for i, d in enumerate(shape)))
    buckets = config.dynamic_batching.length_buckets
    if buckets:
        key.append(bisect_left(buckets, max(axis_lengths(config, inputs).values(), default=0)))
    return tuple(key)


def _pad_to(array: np.ndarray, target: list[int], value: float) -> np.ndarray:
    if list(array.shape) == target:
        return array
    # A string tensor pads with empty text: a float pad value is no string.
    out = np.full(target, b"" if array.dtype == object else value, dtype=array.dtype)
    out[tuple(slice(0, n) for n in array.shape)] = array
    return out


def stack(
    config: ModelConfig, requests: list[dict[str, np.ndarray]]
) -> tuple[dict[str, np.ndarray], list[Part]]:
    """Concatenate requests along the batch axis, padding named axes."""
    per_request = [axis_lengths(config, r) for r in requests]
    longest: dict[str, int] = {}
    for lengths in per_request:
        for axis, n in lengths.items():
            longest[axis] = max(longest.get(axis, 0), n)
    batch: dict[str, np.ndarray] = {}
    for spec in config.input:
        arrays = [r[spec.name] for r in requests]
        if spec.axis_names and any(spec.axis_names):
            arrays = [
                _pad_to(
                    a,
                    [a.shape[0]] + [longest[ax] if ax else d for ax, d in zip(spec.axis_names, a.shape[1:])],
                    spec.pad_value,
                )
                for a in arrays
            ]
        batch[spec.name] = arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=0)
    parts, start = [], 0
    for request, lengths in zip(requests, per_request):
        rows = next(iter(request.values())).shape[0]
        parts.append(Part(start, start + rows, lengths))
        start += rows
    return batch, parts


def unstack(
    config: ModelConfig, outputs: dict[str, np.ndarray], parts: list[Part],
    wanted: list[frozenset[str] | None] | None = None,
) -> list[dict[str, np.ndarray]]:
    """Split batch outputs per request and cut named axes back to each request's length.

    `wanted[i]` names the outputs request i asked for (None: all); only those are copied out."""
    results = []
    for i, part in enumerate(parts):
        result = {}
        names = None if wanted is None else wanted[i]
        for name, array in outputs.items():
            if names is not None and name not in names:
                continue
            spec = config.output_spec(name)
            index: list[slice] = [slice(part.start, part.stop)]
            for axis in (spec.axis_names or []) if spec else []:
                index.append(slice(0, part.lengths[axis]) if axis else slice(None))
            # A copy, so one request's result never pins the whole batch buffer in memory;
            # a request that ran alone owns that buffer already.
            result[name] = array[tuple(index)] if len(parts) == 1 else np.array(array[tuple(index)], copy=True)
        results.append(result)
    return results
