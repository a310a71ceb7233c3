"""UCI Japanese Vowels (speaker identification), read from the .ts files in the aeon wheel.

We only *locate* the aeon package (importlib.util.find_spec does not execute
it): importing aeon pulls numba and pins numpy. The sktime/aeon .ts format is
simple enough for a 30-line parser: `@` header lines, then one case per line,
channels separated by ':', values by ',', the class label last.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHANNELS = 12
SPEAKERS = [str(i) for i in range(1, 10)]
VOWELS_SOURCE = {
    "name": "UCI Japanese Vowels (Kudo, Toyama, Shimbo 1999), .ts files shipped in the aeon wheel",
    "url": "https://archive.ics.uci.edu/dataset/128",
    "licence": "CC BY 4.0",
}


@dataclass
class SequenceSet:
    """Variable-length multichannel sequences: a list of [T_i, C] arrays and int64 labels."""

    sequences: list[np.ndarray]
    labels: np.ndarray
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(s) for s in self.sequences], dtype=np.int64)

    def subset(self, index: np.ndarray) -> SequenceSet:
        return SequenceSet([self.sequences[i] for i in index], self.labels[index], self.class_names)


def vowels_dir() -> Path:
    """The JapaneseVowels folder inside the installed aeon package (not imported)."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("aeon is not installed: pip install --no-deps aeon==1.6.0")
    for location in spec.submodule_search_locations:
        folder = Path(location) / "datasets" / "data" / "JapaneseVowels"
        if folder.is_dir():
            return folder
    raise FileNotFoundError(f"no datasets/data/JapaneseVowels under {spec.submodule_search_locations}")


def parse_ts(path: str | Path) -> tuple[list[np.ndarray], list[str]]:
    """Parse a multivariate .ts file into ([T, C] float32 arrays, label strings)."""
    sequences, labels = [], []
    in_data = False
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            in_data = line.lower().startswith("@data")
            continue
        if not in_data:
            raise ValueError(f"{path}:{number}: data before the @data line")
        *channels, label = line.split(":")
        try:
            values = [np.array(c.split(","), dtype=np.float32) for c in channels]
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
        if len({len(v) for v in values}) != 1:
            raise ValueError(f"{path}:{number}: channels have different lengths")
        sequences.append(np.stack(values, axis=1))
        labels.append(label.strip())
    return sequences, labels


def load_vowels(split: str) -> SequenceSet:
    """The standard split: 'train' (270 utterances) or 'test' (370); speakers 1..9 -> 0..8."""
    name = {"train": "JapaneseVowels_TRAIN.ts", "test": "JapaneseVowels_TEST.ts"}[split]
    sequences, labels = parse_ts(vowels_dir() / name)
    index = np.array([SPEAKERS.index(label) for label in labels], dtype=np.int64)
    return SequenceSet(sequences, index, SPEAKERS)


def pad_batch(sequences: list[np.ndarray], pad_value: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad to the longest sequence: ([B, T, C] float32, [B] int64 lengths)."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    out = np.full((len(sequences), int(lengths.max()), sequences[0].shape[1]), pad_value, dtype=np.float32)
    for row, seq in enumerate(sequences):
        out[row, : len(seq)] = seq
    return out, lengths


def channel_stats(sequences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over every valid frame (padding excluded)."""
    frames = np.concatenate(sequences, axis=0)
    return frames.mean(axis=0).astype(np.float32), (frames.std(axis=0) + 1e-6).astype(np.float32)
