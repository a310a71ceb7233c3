"""Batch isolation: what bounds the cost of a request that fails the runtime.

Validation (validation.py) stops what the config can declare, so a batch should
fail only for reasons nobody foresaw. When one does, the batcher bisects it:
each half runs again, a half that succeeds answers its requests, a half that
fails is split again, and a request that fails alone gets its own error (400
when ORT calls the input invalid, 500 otherwise). ORT's text may quote input
values, so it reaches a caller only from a run of that caller's request alone.

Cost: one bad request in a batch of n costs 2*ceil(log2 n) extra runs of
shrinking halves, about 2n extra rows (n = 64: 12 runs, ~126 rows). k bad
requests cost at most 2n - 2 extra runs. The runs hold the model's instance,
so the extra work delays, but never multiplies across, other batches.

Quarantine: a request that failed alone is remembered by a digest of its
inputs (a bounded LRU set). An identical request later runs alone, so a client
repeating a bad request costs one run each time and never fails anyone else's
batch. Only new, distinct bad requests pay the bisection.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np


def digest(inputs: dict[str, np.ndarray]) -> bytes:
    """A fingerprint of one request's inputs (names, datatypes, shapes, values)."""
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(inputs):
        array = inputs[name]
        h.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        if array.dtype == object:
            for value in array.reshape(-1):
                raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
                h.update(len(raw).to_bytes(8, "little"))
                h.update(raw)
        else:
            h.update(np.ascontiguousarray(array).data)
    return h.digest()


class Quarantine:
    """A bounded set of digests of requests that failed when run alone (LRU order)."""

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self._digests: OrderedDict[bytes, None] = OrderedDict()

    def add(self, key: bytes) -> None:
        self._digests[key] = None
        self._digests.move_to_end(key)
        while len(self._digests) > self.capacity:
            self._digests.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._digests

    def __len__(self) -> int:
        return len(self._digests)
