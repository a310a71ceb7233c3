"""Label and text encodings shared by training and (as reference) by the service.

`MultiHotEncoder` and `one_hot` are the reference the service's encoding
endpoints are tested against; `CharVocab` is the tokenizer whose vocabulary
is written into the language-ID model's config.json (preprocessing type "chars").
Only numpy here, so the service could import this module without torch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

PAD, UNK, CLS = "<pad>", "<unk>", "<cls>"


def one_hot(indices: int | Sequence[int] | np.ndarray, num_classes: int) -> np.ndarray:
    """Class indices -> float32 one-hot rows ([num_classes] for an int, [N, num_classes] otherwise)."""
    array = np.asarray(indices, dtype=np.int64)
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        bad = array[(array < 0) | (array >= num_classes)].tolist()
        raise ValueError(f"class indices must be in [0, {num_classes}), got {bad}")
    return np.eye(num_classes, dtype=np.float32)[array]


class MultiHotEncoder:
    """Label sets <-> multi-hot float32 vectors over a fixed, ordered class list.

    >>> enc = MultiHotEncoder(["bg", "en", "ru"])
    >>> enc.encode(["ru", "bg"]).tolist()
    [1.0, 0.0, 1.0]
    >>> enc.decode([0.9, 0.2, 0.7])
    ['bg', 'ru']
    """

    def __init__(self, classes: Iterable[str]) -> None:
        self.classes = list(classes)
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must be unique, got {self.classes}")
        self.index = {name: i for i, name in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.classes)

    def encode(self, labels: Iterable[str] | Mapping[str, float]) -> np.ndarray:
        """One label set -> [num_classes] vector of 0.0/1.0; an unknown label is a ValueError.

        A {label: target} mapping gives graded targets (a word several languages share):
        >>> MultiHotEncoder(["bg", "en", "ru"]).encode({"ru": 1.0, "bg": 0.75}).tolist()
        [0.75, 0.0, 1.0]
        """
        vector = np.zeros(len(self.classes), dtype=np.float32)
        targets = labels if isinstance(labels, Mapping) else dict.fromkeys(labels, 1.0)
        for label, target in targets.items():
            if label not in self.index:
                raise ValueError(f"unknown label {label!r}; known labels: {self.classes}")
            vector[self.index[label]] = target
        return vector

    def encode_batch(self, label_sets: Iterable[Iterable[str]]) -> np.ndarray:
        """Many label sets -> [N, num_classes]."""
        rows = [self.encode(labels) for labels in label_sets]
        return np.stack(rows) if rows else np.zeros((0, len(self.classes)), dtype=np.float32)

    def decode(self, vector: Sequence[float] | np.ndarray, threshold: float = 0.5) -> list[str]:
        """Scores or a multi-hot vector -> the labels at or above `threshold`, in class order."""
        values = np.asarray(vector, dtype=np.float64).reshape(-1)
        if len(values) != len(self.classes):
            raise ValueError(f"expected a vector of {len(self.classes)} values, got {len(values)}")
        return [self.classes[i] for i in np.flatnonzero(values >= threshold)]


class CharVocab:
    """Character tokenizer: ids 0/1/2 are <pad>/<unk>/<cls>, then characters by frequency.

    The model pools with a masked mean, so `<cls>` is reserved but never added;
    clients send `encode()`'s ids and a mask of 1 for each real character.
    """

    specials = (PAD, UNK, CLS)
    pad_id, unk_id, cls_id = 0, 1, 2

    def __init__(self, chars: Iterable[str], max_length: int = 64, lowercase: bool = False) -> None:
        self.itos = list(self.specials) + [c for c in chars if c not in self.specials]
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        self.max_length = max_length
        self.lowercase = lowercase

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 2, max_length: int = 64,
              lowercase: bool = False) -> CharVocab:
        """Characters seen at least `min_count` times; rarer ones map to <unk>."""
        counts = Counter(ch for text in texts for ch in (text.lower() if lowercase else text))
        chars = sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c))
        return cls(chars, max_length, lowercase)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """Text -> ids, truncated to max_length characters (lower-cased first when the vocab says so)."""
        if self.lowercase:
            text = text.lower()
        return [self.stoi.get(ch, self.unk_id) for ch in text[: self.max_length]]

    def encode_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Texts -> (tokens, mask), both int64 [B, longest], padded with 0."""
        ids = [self.encode(t) or [self.unk_id] for t in texts]  # an empty string still gets one token
        longest = max(len(row) for row in ids)
        tokens = np.full((len(ids), longest), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), longest), dtype=np.int64)
        for row, seq in enumerate(ids):
            tokens[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        return tokens, mask

    def to_config(self) -> dict:
        """The config.json preprocessing block that lets a client reproduce encode_batch."""
        return {
            "type": "chars",
            "vocab": self.itos,
            "pad_id": self.pad_id,
            "unk_id": self.unk_id,
            "cls_id": self.cls_id,
            "add_cls": False,
            "max_length": self.max_length,
            "lowercase": self.lowercase,
            "truncation": "right",
            "notes": {"empty_text": "one <unk> token", "mask": "1 for each real character, 0 for padding (INT64)"},
        }

    @classmethod
    def from_config(cls, block: dict) -> CharVocab:
        vocab = cls(block["vocab"][len(cls.specials) :], block["max_length"], bool(block.get("lowercase")))
        if vocab.itos != block["vocab"]:
            raise ValueError("vocab in config does not start with <pad>, <unk>, <cls>")
        return vocab
