"""Held-out examples shipped with the service, offered for the models whose inputs they fit.

The playground (`/ui`) lets a person pick one instead of typing 12 numbers per frame.
Today one set ships: utterances of the UCI Japanese Vowels *test* split (the reference
sequence models train on the other split only), vendored in data/vowels_heldout.json
with its source, licence and the position of each utterance in the test file.
A model takes them when its sequence input has the set's channel count; which model
it is does not matter, so a user's own 12-channel model gets them too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..core.config import ModelConfig
from ..core.config_blocks import SequencePreprocessing

DATA = Path(__file__).resolve().parent / "data"
VOWELS_FILE = DATA / "vowels_heldout.json"


@dataclass(frozen=True)
class SampleSet:
    name: str
    kind: str  # the friendly input the items are: "sequence" (frames [T, channels])
    source: str
    url: str
    licence: str
    selection: str
    items: list[dict[str, Any]]  # {"index", "label", "frames"}

    def document(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "source": self.source, "url": self.url,
                "licence": self.licence, "selection": self.selection, "items": self.items}


@lru_cache(maxsize=1)
def vowels() -> SampleSet:
    raw = json.loads(VOWELS_FILE.read_text(encoding="utf-8"))
    return SampleSet(raw["name"], "sequence", raw["source"], raw["url"], raw["licence"], raw["selection"],
                     raw["items"])


def _channels(config: ModelConfig) -> int | None:
    pre = config.preprocessing
    if not isinstance(pre, SequencePreprocessing):
        return None
    if pre.channels is not None:
        return pre.channels
    frames = config.input_spec(pre.input or "") or next(
        (s for s in config.input if s.datatype.startswith("FP") and s.variable), None)
    return frames.dims[-1] if frames is not None and frames.dims and frames.dims[-1] > 0 else None


def samples_for(config: ModelConfig) -> SampleSet | None:
    """The shipped set whose items this model's friendly input takes, or None."""
    sample = vowels()
    return sample if _channels(config) == len(sample.items[0]["frames"][0]) else None
