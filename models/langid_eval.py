"""Held-out language-id evaluation on real text that training never reads.

The sentences are vendored in models/data/langid_eval.tsv (Django's translated interface
messages, BSD 3-Clause; see models/make_langid_eval.py). The words are the longest word of
each sentence, for the languages written with spaces between words. Three detectors are
scored in the same run: ours, lingua-language-detector restricted to the same languages,
and the character n-gram logistic regression trained on our training data.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

EVAL_FILE = Path(__file__).resolve().parent / "data" / "langid_eval.tsv"
EVAL_SOURCE = {
    "name": "Django 5.2.19 interface messages as written by its translators (msgstr of every django.po; "
            "English: the msgid), 20 per language, chosen by sha256 order; words: the longest word of each "
            "sentence (languages written with spaces only)",
    "url": "https://www.djangoproject.com (the django wheel on PyPI)",
    "licence": "BSD 3-Clause (Django and its translations)",
    "file": "models/data/langid_eval.tsv",
}
UNSPACED = {"ja", "zh", "th"}
# lingua names Norwegian Bokmål `nb`; our label is CLDR's `no`.
LINGUA_CODES = {"no": "nb"}

Predictor = Callable[[list[str]], list[str]]  # texts -> one top label each


def load_sentences(path: Path = EVAL_FILE) -> list[tuple[str, str]]:
    """(language, sentence) rows of the vendored file."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t",
                              quoting=csv.QUOTE_NONE)
        return [(row["language"], row["text"]) for row in rows]


def longest_word(sentence: str) -> str:
    """The longest whitespace-separated token, stripped of punctuation, that has a letter."""
    tokens = [t.strip(".,;:!?()[]\"'“”„«»‘’‚…-–—") for t in sentence.split()]
    tokens = [t for t in tokens if any(ch.isalpha() for ch in t)]
    return max(tokens, key=len, default="")


def load_words(sentences: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(language, word): one per sentence of a spaced language, duplicates within a language dropped."""
    seen, words = set(), []
    for language, sentence in sentences:
        word = longest_word(sentence)
        if language not in UNSPACED and word and (language, word) not in seen:
            seen.add((language, word))
            words.append((language, word))
    return words


def score(predict: Predictor, rows: Sequence[tuple[str, str]]) -> dict:
    """Top-1 accuracy overall and per language (a prediction is right when it is the row's language)."""
    started = time.perf_counter()
    predicted = predict([text for _, text in rows])
    seconds = time.perf_counter() - started
    per: dict[str, list[int]] = {}
    for (language, _), guess in zip(rows, predicted, strict=True):
        per.setdefault(language, []).append(int(guess == language))
    hits = [hit for values in per.values() for hit in values]
    return {"top1": round(float(np.mean(hits)), 4), "n": len(hits), "seconds": round(seconds, 2),
            "per_language": {k: [sum(v), len(v)] for k, v in sorted(per.items())}}


def lingua_predictor(languages: Sequence[str]) -> Predictor | None:
    """lingua-language-detector restricted to `languages`, or None when it is not installed."""
    try:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
    except ImportError:
        return None
    ours = {LINGUA_CODES.get(code, code): code for code in languages}
    chosen = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in ours]
    detector = LanguageDetectorBuilder.from_languages(*chosen).with_preloaded_language_models().build()

    def predict(texts: list[str]) -> list[str]:
        found = detector.detect_languages_in_parallel_of(texts)
        return [ours[lang.iso_code_639_1.name.lower()] if lang is not None else "und" for lang in found]

    return predict


def evaluate(detectors: dict[str, Predictor | None]) -> dict:
    """Score every available detector on the sentences and on the words."""
    sentences = load_sentences()
    words = load_words(sentences)
    report: dict = {"source": EVAL_SOURCE, "sentences": len(sentences), "words": len(words), "detectors": {}}
    for name, predict in detectors.items():
        if predict is None:
            report["detectors"][name] = {"missing": True}
            continue
        report["detectors"][name] = {"sentences": score(predict, sentences), "words": score(predict, words)}
    return report
