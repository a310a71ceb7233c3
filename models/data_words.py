"""Real words for language identification: wordfreq's frequency lists, and phrases sampled from them.

wordfreq (Apache-2.0; its lists are built from Wikipedia, subtitles, news, books, web
text and social media, each under its own licence: see wordfreq's README) ships a
`small` list of about 30k words for most of our languages. What it lacks:
- Croatian and Serbian are one list, `sh`, written in Latin letters. We label it `hr`,
  and its Serbian Cyrillic transliteration `sr` (CLDR's `sr` is Cyrillic, as is most
  Serbian print).
- Estonian has no list: its words come from Debian's spelling dictionary (models/data_corpora.py).
- Thai has no list: its words come from its CLDR strings.
Training never reads the evaluation sentences (models/data/langid_eval.tsv).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .data_text import TextSet

WORDFREQ_SOURCE = {
    "name": "wordfreq 3.1.1 `small` word-frequency lists (real usage: Wikipedia, subtitles, news, books, web, "
            "social media)",
    "url": "https://github.com/rspeer/wordfreq",
    "licence": "Apache-2.0 (code and lists; see wordfreq's README for the licences of its sources)",
}
WORDFREQ_CODE = {"no": "nb", "hr": "sh", "sr": "sh"}
UNSPACED = {"ja", "zh", "th"}
_LATIN_TO_CYRILLIC = {
    "lj": "љ", "nj": "њ", "dž": "џ", "a": "а", "b": "б", "c": "ц", "č": "ч", "ć": "ћ", "d": "д", "đ": "ђ",
    "e": "е", "f": "ф", "g": "г", "h": "х", "i": "и", "j": "ј", "k": "к", "l": "л", "m": "м", "n": "н",
    "o": "о", "p": "п", "r": "р", "s": "с", "š": "ш", "t": "т", "u": "у", "v": "в", "z": "з", "ž": "ж",
}


def to_serbian_cyrillic(word: str) -> str | None:
    """Gaj's Latin -> Serbian Cyrillic, or None for words with letters Serbian does not write (q, w, x, y)."""
    out, i = [], 0
    while i < len(word):
        pair = word[i : i + 2]
        if pair in _LATIN_TO_CYRILLIC:
            out.append(_LATIN_TO_CYRILLIC[pair])
            i += 2
        elif word[i] in _LATIN_TO_CYRILLIC:
            out.append(_LATIN_TO_CYRILLIC[word[i]])
            i += 1
        elif word[i].isalpha():
            return None
        else:
            out.append(word[i])
            i += 1
    return "".join(out)


@dataclass
class Lexicon:
    """One language's words with sampling weights (frequency, flattened so rarer words are seen too).

    `frequencies`: each word's share of real use, where a frequency list gives them (None for a
    dictionary or CLDR list): a word several languages share is graded by them (see word_owners)."""

    words: list[str]
    weights: np.ndarray
    frequencies: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.cdf = np.cumsum(self.weights)

    def draw(self, k: int, rng: np.random.Generator) -> list[str]:
        """k words sampled by weight (searchsorted on the CDF: rng.choice(p=...) re-sums every call)."""
        picks = np.minimum(np.searchsorted(self.cdf, rng.random(k) * self.cdf[-1]), len(self.words) - 1)
        return [self.words[i] for i in picks]


def wordfreq_lexicon(code: str, top_n: int, power: float) -> Lexicon | None:
    """The `top_n` most frequent words with a letter, weighted by frequency ** power."""
    from wordfreq import available_languages, get_frequency_dict

    source = WORDFREQ_CODE.get(code, code)
    if source not in available_languages(wordlist="small"):
        return None
    pairs = sorted(get_frequency_dict(source, wordlist="small").items(), key=lambda kv: -kv[1])
    pairs = [(w, f) for w, f in pairs if any(ch.isalpha() for ch in w)]
    if code == "sr":
        pairs = [(c, f) for c, f in ((to_serbian_cyrillic(w), f) for w, f in pairs) if c]
    pairs = pairs[:top_n]
    frequencies = np.array([f for _, f in pairs])
    weights = frequencies ** power
    return Lexicon([w for w, _ in pairs], weights / weights.sum(), frequencies)


def cldr_lexicon(code: str, cldr: TextSet) -> Lexicon:
    """Words of the language's CLDR strings (for languages wordfreq lacks), equally weighted."""
    words = sorted({w.strip("().,") for text, labels in zip(cldr.texts, cldr.labels) if code in labels
                    for w in (text.split() if code not in UNSPACED else [text])})
    words = [w for w in words if any(ch.isalpha() for ch in w)]
    if code == "th":  # Thai CLDR strings quote Latin names and symbols: keep the Thai words
        words = [w for w in words if any("\u0e00" <= ch <= "\u0e7f" for ch in w)]
    return uniform_lexicon(words)


def uniform_lexicon(words: list[str]) -> Lexicon:
    return Lexicon(words, np.full(len(words), 1.0 / len(words)))


def load_lexicons(languages: list[str], cldr: TextSet, top_n: int, power: float) -> dict[str, Lexicon]:
    """wordfreq where it has the language; Estonian from its spelling dictionary; else CLDR words."""
    from .data_corpora import estonian_words

    def lexicon(code: str) -> Lexicon:
        if code == "et":
            return uniform_lexicon(estonian_words())
        return wordfreq_lexicon(code, top_n, power) or cldr_lexicon(code, cldr)

    return {code: lexicon(code) for code in languages}


def word_owners(lexicons: dict[str, Lexicon]) -> dict[str, dict[str, float]]:
    """Each word -> {language: target} for every language whose list has it (a single word's target).

    A word several languages use is a target of each (multi-label), graded by how much each
    uses it: 0.5 + 0.5 * frequency / the highest frequency among them. Every owner stays at or
    above the 0.5 threshold, and the top-1 answer for "detta" is Swedish (1.8e-3 of Swedish
    words) rather than Italian (4.4e-5), where all-ones targets left the order to chance.
    A language without frequencies for the word (a dictionary or CLDR list) gets 1.0."""
    found: dict[str, dict[str, float | None]] = defaultdict(dict)
    for code, lexicon in lexicons.items():
        frequencies = lexicon.frequencies.tolist() if lexicon.frequencies is not None else [None] * len(lexicon.words)
        for word, frequency in zip(lexicon.words, frequencies, strict=True):
            found[word][code] = frequency
    owners = {}
    for word, by_code in found.items():
        top = max((f for f in by_code.values() if f is not None), default=None)
        owners[word] = {code: 1.0 if f is None or not top else 0.5 + 0.5 * f / top
                        for code, f in sorted(by_code.items())}
    return owners
