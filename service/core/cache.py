"""The response cache: answers to repeated requests, without queueing or running the model.

One cache per server process (under `--workers N` each worker has its own), bounded by bytes
(`response_cache_bytes`), least recently used first out; a model is cached only when its
config.json enables Triton's `response_cache`. The repository looks a request up after
checking it and before queueing it, so a hit never waits behind a batch.

The key is a SHA-256 digest of a secret drawn per process followed by everything the answer
depends on: the model, its version, every input's name, dtype, shape and bytes (as the model
receives them, after validation), and the requested outputs. Every field is framed by its
length, so no two different requests hash the same byte stream; a collision then needs a
SHA-256 collision (about 2^128 work), and the secret, which never leaves the process, denies
an attacker any offline search (digests are never shown, so SHA-256's length extension gives
nothing). SHA-256 rather than keyed BLAKE2b: this CPU hashes a bench_cnn input (3 KB) with
it in 2.9 us against BLAKE2b's 5.0 (SHA extensions). Parameters that act after the model
(binary_data, top_k, threshold, timeout) are applied to the cached tensors per request, so
they stay out of the key. Arrays put in the cache are made read-only: an answer shared by
many requests can never be changed by one of them.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

# Bytes counted per entry beyond its tensors: the key, the entry and its slot in the dict.
ENTRY_OVERHEAD = 256
_EIGHT = 8


@dataclass(frozen=True, slots=True)
class Ticket:
    """A miss: where the answer goes once computed, and the model's epoch when it was looked up."""

    model: str
    digest: bytes
    epoch: int


@dataclass(slots=True)
class _Entry:
    outputs: dict[str, np.ndarray]
    size: int


def _frame(data: bytes) -> bytes:
    return len(data).to_bytes(_EIGHT, "little") + data


def answer_size(outputs: dict[str, np.ndarray]) -> int:
    """The bytes an answer holds: its tensors, and each text element of a BYTES tensor."""
    size = ENTRY_OVERHEAD
    for array in outputs.values():
        size += array.nbytes
        if array.dtype == object:
            size += sum(sys.getsizeof(v) for v in array.flat)
    return size


class ResponseCache:
    def __init__(self, limit_bytes: int) -> None:
        self.limit = limit_bytes
        self.bytes = 0
        self.evictions = 0
        self._entries: OrderedDict[tuple[str, bytes], _Entry] = OrderedDict()
        self._epochs: dict[str, int] = {}
        self._secret = os.urandom(32)

    def __len__(self) -> int:
        return len(self._entries)

    def digest(self, model: str, version: str, inputs: dict[str, np.ndarray], outputs: frozenset[str] | None) -> bytes:
        # The framed fields are joined and hashed in a few updates: one update per field cost
        # more than hashing a bench_cnn input's 3 KB itself.
        h = hashlib.sha256(self._secret)
        head = [_frame(model.encode()), _frame(version.encode()), len(inputs).to_bytes(_EIGHT, "little")]
        for name in sorted(inputs):
            array = inputs[name]
            head += [_frame(name.encode()), _frame(array.dtype.str.encode()),
                     _frame(np.asarray(array.shape, dtype="<i8").tobytes())]
            if array.dtype == object:  # text (BYTES): each element framed
                head.append(array.size.to_bytes(_EIGHT, "little"))
                head += [_frame(v.encode("utf-8", "surrogatepass") if isinstance(v, str) else bytes(v))
                         for v in array.flat]
            else:
                data = np.ascontiguousarray(array)
                head.append(data.nbytes.to_bytes(_EIGHT, "little"))
                h.update(b"".join(head))
                head = []
                h.update(data.data)
        wanted = [] if outputs is None else sorted(outputs)
        head.append(b"*" if outputs is None else len(wanted).to_bytes(_EIGHT, "little"))
        head += [_frame(name.encode()) for name in wanted]
        h.update(b"".join(head))
        return h.digest()

    def get(
        self, model: str, version: str, inputs: dict[str, np.ndarray], outputs: frozenset[str] | None
    ) -> tuple[dict[str, np.ndarray] | None, Ticket]:
        """(the cached answer, or None and the ticket to store the computed one with)."""
        digest = self.digest(model, version, inputs, outputs)
        key = (model, digest)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return entry.outputs, Ticket(model, digest, -1)
        return None, Ticket(model, digest, self._epochs.get(model, 0))

    def put(self, ticket: Ticket, outputs: dict[str, np.ndarray]) -> bool:
        """Store an answer; False when it is larger than the whole cache, or its model's
        versions changed since the lookup (the answer may come from a replaced version)."""
        if self._epochs.get(ticket.model, 0) != ticket.epoch:
            return False
        size = answer_size(outputs)
        if size > self.limit:
            return False
        for array in outputs.values():
            array.flags.writeable = False
        key = (ticket.model, ticket.digest)
        old = self._entries.pop(key, None)
        if old is not None:  # two misses of one input computed at once: keep one copy
            self.bytes -= old.size
        self._entries[key] = _Entry(outputs, size)
        self.bytes += size
        while self.bytes > self.limit:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.size
            self.evictions += 1
        return True

    def invalidate(self, model: str) -> int:
        """Forget every answer of `model` (a version was loaded, unloaded or replaced); the
        epoch moves on, so answers still being computed by the old versions are not stored."""
        self._epochs[model] = self._epochs.get(model, 0) + 1
        stale = [key for key in self._entries if key[0] == model]
        for key in stale:
            self.bytes -= self._entries.pop(key).size
        return len(stale)
