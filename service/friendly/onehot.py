"""One-hot and multi-hot encoding over an ordered vocabulary (a model's labels or the caller's).

The vectors are exactly the training code's: float32 0.0/1.0 with position i
for vocabulary entry i (one-hot is a row of the identity, multi-hot sets one
position per label). Decoding multi-hot keeps every label whose value is at or
above the threshold, in vocabulary order; decoding one-hot takes the largest value.

Unknown labels follow a per-request policy: "error" answers 422 naming them and
(a bounded excerpt of) the allowed ones, "ignore" drops them and reports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import Unprocessable

MAX_LISTED = 20  # vocabulary entries quoted in an error message


def excerpt(values: Sequence[str], limit: int = MAX_LISTED) -> str:
    """A vocabulary for an error message: the first `limit` entries, then a count of the rest."""
    shown = ", ".join(repr(v) for v in values[:limit])
    more = len(values) - limit
    return f"[{shown}{f', ... (+{more} more)' if more > 0 else ''}]"


class Vocabulary:
    """An ordered list of unique labels."""

    def __init__(self, labels: Sequence[str], source: str = "vocabulary") -> None:
        self.labels = [str(label) for label in labels]
        self.source = source
        if not self.labels:
            raise Unprocessable(f"{source}: the vocabulary is empty")
        self.index: dict[str, int] = {}
        dupes = []
        for i, label in enumerate(self.labels):
            if label in self.index:
                dupes.append(label)
            self.index.setdefault(label, i)
        if dupes:
            raise Unprocessable(f"{source}: vocabulary entries must be unique, repeated: {sorted(set(dupes))}")

    def __len__(self) -> int:
        return len(self.labels)

    def lookup(self, labels: Sequence[str]) -> tuple[list[int], list[str]]:
        """Labels -> (indices of the known ones, the unknown ones); the caller raises or ignores."""
        known = [self.index[label] for label in labels if label in self.index]
        return known, [label for label in labels if label not in self.index]

    def unknown_error(self, unknown: Sequence[str]) -> Unprocessable:
        names = list(dict.fromkeys(unknown))
        return Unprocessable(
            f"unknown label(s) {names} not in the {self.source} of {len(self)} labels; "
            f"allowed: {excerpt(self.labels)} (set unknown='ignore' to drop unknown labels)"
        )


@dataclass
class Encoded:
    indices: list[list[int]]  # per item, ascending
    ignored: list[str] = field(default_factory=list)

    def dense(self, size: int) -> np.ndarray:
        out = np.zeros((len(self.indices), size), dtype=np.float32)
        for row, idx in enumerate(self.indices):
            out[row, idx] = 1.0
        return out


def encode(vocab: Vocabulary, items: Sequence[Sequence[str]], *, multi: bool, unknown: str = "error") -> Encoded:
    """Label lists (one per item) -> indices. One-hot items must hold exactly one label."""
    ignored: list[str] = []
    rows = []
    for n, labels in enumerate(items):
        if not multi and len(labels) != 1:
            raise Unprocessable(f"labels[{n}]: one-hot takes exactly one label per item, received {len(labels)}")
        idx, seen = vocab.lookup(labels)
        if seen and unknown == "error":
            raise vocab.unknown_error(seen)
        ignored.extend(seen)
        rows.append(sorted(set(idx)))
    return Encoded(rows, list(dict.fromkeys(ignored)))


def _matrix(vectors: Sequence[Sequence[float]], size: int) -> np.ndarray:
    for n, row in enumerate(vectors):
        if len(row) != size:
            raise Unprocessable(f"vectors[{n}]: expected {size} values (the vocabulary size), received {len(row)}")
    array = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), size)
    if not np.isfinite(array).all():
        first = int(np.argwhere(~np.isfinite(array))[0][0])
        raise Unprocessable(f"vectors[{first}]: NaN or Inf values are not allowed")
    return array


def decode_dense(vocab: Vocabulary, vectors: Sequence[Sequence[float]], *, multi: bool,
                 threshold: float = 0.5) -> list[list[str]]:
    """Vectors -> labels. Multi-hot: every value >= threshold. One-hot: the largest value
    (an all-zero row decodes to no label)."""
    array = _matrix(vectors, len(vocab))
    if multi:
        return [[vocab.labels[i] for i in np.flatnonzero(row >= threshold)] for row in array]
    return [[vocab.labels[int(np.argmax(row))]] if row.any() else [] for row in array]


def decode_sparse(vocab: Vocabulary, indices: Sequence[Sequence[int]], *, multi: bool) -> list[list[str]]:
    """Index lists -> labels; an index outside the vocabulary is a 422."""
    out = []
    for n, row in enumerate(indices):
        if not multi and len(row) > 1:
            raise Unprocessable(f"indices[{n}]: one-hot takes at most one index per item, received {len(row)}")
        bad = [i for i in row if not 0 <= i < len(vocab)]
        if bad:
            raise Unprocessable(f"indices[{n}]: {bad} outside the vocabulary of {len(vocab)} labels (0..{len(vocab) - 1})")
        out.append([vocab.labels[i] for i in sorted(set(row))])
    return out
