"""Training samples for language id: words, phrases, CLDR strings and letter-less strings."""

from __future__ import annotations

import numpy as np

from models.data_words import Lexicon
from models.langid_samples import SampleMix, Sampler


def lexicon(words: list[str]) -> Lexicon:
    return Lexicon(words, np.full(len(words), 1.0 / len(words)))


def sampler(mix: SampleMix | None = None) -> Sampler:
    lexicons = {"de": lexicon(["und", "montag", "haus"]), "ja": lexicon(["月曜日", "です"])}
    owners = {"und": {"de": 1.0}, "montag": {"de": 1.0}, "haus": {"de": 1.0}, "月曜日": {"ja": 1.0, "zh": 0.6},
              "です": {"ja": 1.0}}
    cldr = [("Deutschland", ["de"]), ("ドイツ", ["ja"])]
    return Sampler(lexicons, owners, cldr, mix or SampleMix(), lexicon(["Control", "JSON"]))


def test_an_epoch_mixes_the_kinds_in_the_given_proportions():
    samples = sampler().epoch(1000, np.random.default_rng(0))
    assert len(samples) == 1000
    no_language = [t for t, labels in samples if not labels]
    assert len(no_language) == 50
    assert all(not any(ch.isalpha() for ch in t) for t in no_language)


def test_words_carry_every_owner_and_phrases_one_language():
    s = sampler()
    rng = np.random.default_rng(1)
    words = s.words(200, rng)
    assert (("月曜日", {"ja": 1.0, "zh": 0.6}) in words) and all(labels for _, labels in words)
    for text, labels in s.phrases(200, rng):
        assert len(labels) == 1
        assert (" " not in text) == (labels == ["ja"])  # Japanese is written without spaces


def test_a_csv_alone_is_one_pass_over_its_strings():
    s = Sampler({}, {}, [("a", ["x"]), ("b", ["y"]), ("c", ["x"])], SampleMix(0, 0, 1, 0), None)
    epoch = s.epoch(100, np.random.default_rng(0))
    assert sorted(epoch) == [("a", ["x"]), ("b", ["y"]), ("c", ["x"])]


def test_messages_are_drawn_per_language_and_a_language_without_any_gets_a_phrase():
    lexicons = {"de": lexicon(["und", "haus"]), "ja": lexicon(["月曜日", "です"])}
    s = Sampler(lexicons, {}, [], SampleMix(0, 0, 0, 0, 1.0), lexicon(["JSON"]), {"de": ["Suche starten"]})
    samples = s.epoch(400, np.random.default_rng(0))
    german = [t for t, labels in samples if labels == ["de"]]
    japanese = [t for t, labels in samples if labels == ["ja"]]
    assert set(german) == {"Suche starten"} and 150 < len(german) < 250  # languages drawn evenly
    assert japanese and all(" " not in t for t in japanese)  # phrases of Japanese words instead


def test_thai_phrases_are_written_without_spaces_between_most_words():
    s = Sampler({"th": lexicon(["วันจันทร์", "ภาษา", "ไทย"])}, {}, [], SampleMix(), lexicon(["JSON"]))
    phrases = [text for text, _ in s.phrases(400, np.random.default_rng(3))]
    gaps = sum(len(text.replace(" ", "").replace("JSON", "x")) for text in phrases)  # letters, roughly
    spaces = sum(text.count(" ") for text in phrases)
    assert spaces > 0 and spaces / gaps < 0.1  # a space now and then, as between Thai phrases
    assert sum(" " not in text for text in phrases) > 100  # many phrases have none at all
