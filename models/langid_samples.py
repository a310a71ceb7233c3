"""Training samples for language id, drawn afresh every epoch from real word lists.

- single words, with every language whose list has the word as targets (multi-label, graded
  by how much each language uses the word: models/data_words.word_owners);
- phrases of 2-8 words of one language, sampled by (flattened) frequency. They are not
  real sentences, but their characters, word lengths and spacing are those of real text;
  some carry an English technical word, a number or punctuation, as real text does;
- CLDR display names (the training side of the CLDR split);
- strings without a letter (digits, punctuation, spaces) with NO target: the sigmoid
  outputs learn to stay low, so "12345" answers no language rather than a confident guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data_words import UNSPACED, Lexicon

PUNCTUATION = [".", "?", "!", ":", ",", ";", "…"]
NO_LETTER_PARTS = ["0123456789", " ", ".,;:!?-_/()[]{}\"'#%&*+=<>@|~^$€£¥«»“”„…–—·•"]


@dataclass
class SampleMix:
    words: float = 0.35
    phrases: float = 0.40
    cldr: float = 0.20
    no_letters: float = 0.05
    messages: float = 0.0       # real interface messages (Sphinx's translations), where given


class Sampler:
    """Draws (text, label set) samples; `epoch(n, rng)` gives a fresh mixed epoch."""

    def __init__(self, lexicons: dict[str, Lexicon], owners: dict[str, list[str]],
                 cldr: list[tuple[str, list[str]]], mix: SampleMix, loanwords: Lexicon,
                 messages: dict[str, list[str]] | None = None) -> None:
        self.codes = sorted(lexicons)
        self.lexicons, self.owners, self.cldr, self.mix, self.loanwords = lexicons, owners, cldr, mix, loanwords
        self.messages = {code: texts for code, texts in (messages or {}).items() if texts}

    def words(self, n: int, rng: np.random.Generator) -> list[tuple[str, dict[str, float]]]:
        out = []
        for code in rng.choice(self.codes, n):
            word = self.lexicons[code].draw(1, rng)[0]
            out.append((word, self.owners.get(word, {code: 1.0})))
        return out

    def phrase(self, code: str, rng: np.random.Generator) -> str:
        parts = self.lexicons[code].draw(int(rng.integers(2, 9)), rng)
        if rng.random() < 0.15:  # real interface text quotes "Control", "JSON", "Mac"...
            parts[int(rng.integers(len(parts)))] = self.loanwords.draw(1, rng)[0].title()
        if rng.random() < 0.1:
            parts.insert(int(rng.integers(len(parts) + 1)), str(int(rng.integers(1, 2100))))
        if code == "th":  # Thai writes no space between words, one between phrases and sentences
            text = parts[0] + "".join((" " if rng.random() < 0.2 else "") + part for part in parts[1:])
        else:
            text = ("" if code in UNSPACED else " ").join(parts)
        if rng.random() < 0.4:
            text += PUNCTUATION[int(rng.integers(len(PUNCTUATION)))]
        return text[0].upper() + text[1:] if rng.random() < 0.5 else text

    def phrases(self, n: int, rng: np.random.Generator) -> list[tuple[str, list[str]]]:
        return [(self.phrase(code, rng), [code]) for code in rng.choice(self.codes, n)]

    def real_messages(self, n: int, rng: np.random.Generator) -> list[tuple[str, list[str]]]:
        """Whole translated messages. A language without any (Thai) gets a phrase instead, so that
        sentence-shaped text does not teach "not Thai"."""
        if not self.messages:
            return []
        out = []
        for code in rng.choice(self.codes, n):
            texts = self.messages.get(code)
            out.append((texts[int(rng.integers(len(texts)))] if texts else self.phrase(code, rng), [code]))
        return out

    @staticmethod
    def no_letters(n: int, rng: np.random.Generator) -> list[tuple[str, list[str]]]:
        out = []
        for _ in range(n):
            alphabet = "".join(part for part in NO_LETTER_PARTS if rng.random() < 0.7) or NO_LETTER_PARTS[0]
            length = int(rng.integers(1, 25))
            out.append(("".join(alphabet[i] for i in rng.integers(0, len(alphabet), length)), []))
        return out

    def epoch(self, n: int, rng: np.random.Generator) -> list[tuple[str, list[str]]]:
        m = self.mix
        if not self.codes:  # a user's CSV alone: each of its strings once per epoch
            return [self.cldr[i] for i in rng.permutation(len(self.cldr))]
        picked = [self.cldr[i] for i in rng.choice(len(self.cldr), int(n * m.cldr))]
        samples = (self.words(int(n * m.words), rng) + self.phrases(int(n * m.phrases), rng)
                   + picked + self.no_letters(int(n * m.no_letters), rng) + self.real_messages(int(n * m.messages), rng))
        return [samples[i] for i in rng.permutation(len(samples))]
