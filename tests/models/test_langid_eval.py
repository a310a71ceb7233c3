"""The held-out real-text evaluation: its data, its scoring, and lingua's label mapping."""

from __future__ import annotations

import importlib.util
from collections import Counter

import pytest

from models.data_text import LANGUAGES
from models.langid_eval import evaluate, lingua_predictor, load_sentences, load_words, longest_word, score


def test_sentences_are_20_per_language_for_all_40():
    rows = load_sentences()
    assert Counter(lang for lang, _ in rows) == dict.fromkeys(LANGUAGES, 20)
    assert ("de", "Dieses Feld darf nicht leer sein.") in rows
    assert all("\t" not in text and text.strip() == text for _, text in rows)


def test_longest_word_strips_punctuation_and_needs_a_letter():
    assert longest_word("Dieses Feld darf nicht leer sein.") == "Dieses"
    assert longest_word("«Control» 123456789 ok") == "Control"
    assert longest_word("12345 ...") == ""


def test_words_come_from_spaced_languages_only_without_duplicates():
    words = load_words(load_sentences())
    languages = {lang for lang, _ in words}
    assert not languages & {"ja", "zh", "th"} and len(languages) == 37
    assert len(words) == len(set(words))


def test_score_counts_per_language():
    rows = [("de", "a"), ("de", "b"), ("fr", "c"), ("en", "d")]
    result = score(lambda texts: ["de"] * len(texts), rows)
    assert result["top1"] == 0.5 and result["n"] == 4
    assert result["per_language"] == {"de": [2, 2], "en": [0, 1], "fr": [0, 1]}


def test_a_missing_detector_is_reported_not_scored():
    report = evaluate({"none": None})
    assert report["detectors"]["none"] == {"missing": True}
    assert report["sentences"] == 800 and report["words"] == len(load_words(load_sentences()))


@pytest.mark.skipif(importlib.util.find_spec("lingua") is None, reason="lingua-language-detector not installed")
def test_lingua_answers_with_our_labels():
    predict = lingua_predictor(LANGUAGES)
    assert predict(["Du kan endre det igjen nedenfor.", "Dieses Feld darf nicht leer sein."]) == ["no", "de"]
