"""Real words for language id: wordfreq lists, the Serbian transliteration, CLDR words where wordfreq has none."""

from __future__ import annotations

import numpy as np
import pytest

from models.data_text import load_cldr
from models.data_words import cldr_lexicon, to_serbian_cyrillic, uniform_lexicon, word_owners, wordfreq_lexicon

pytest.importorskip("wordfreq")


def test_serbian_latin_to_cyrillic_digraphs_first():
    assert to_serbian_cyrillic("ljubav") == "љубав"
    assert to_serbian_cyrillic("džep") == "џеп"
    assert to_serbian_cyrillic("njegov") == "његов"
    assert to_serbian_cyrillic("quiz") is None  # Serbian writes no q, w, x, y


def test_wordfreq_lexicon_is_frequency_ordered_with_normalised_weights():
    lexicon = wordfreq_lexicon("de", 5000, 0.5)
    assert lexicon.words[:3] == ["die", "der", "und"] and "montag" in lexicon.words
    assert len(lexicon.words) == 5000 and np.isclose(lexicon.weights.sum(), 1.0)
    assert np.all(np.diff(lexicon.weights) <= 0)
    draws = lexicon.draw(2000, np.random.default_rng(0))
    assert draws.count("die") > draws.count("montag")


def test_serbian_comes_in_cyrillic_and_croatian_in_latin():
    sr, hr = wordfreq_lexicon("sr", 200, 0.5), wordfreq_lexicon("hr", 200, 0.5)
    assert "је" in sr.words and "je" in hr.words
    assert all(not any("a" <= ch <= "z" for ch in w) for w in sr.words)


def test_languages_without_a_wordfreq_list_use_cldr_words():
    assert wordfreq_lexicon("et", 100, 0.5) is None and wordfreq_lexicon("th", 100, 0.5) is None
    cldr = load_cldr()
    thai = cldr_lexicon("th", cldr)
    assert len(thai.words) > 500 and all(any("\u0e00" <= ch <= "\u0e7f" for ch in w) for w in thai.words)
    assert "esmaspäev" in cldr_lexicon("et", cldr).words  # Monday


def test_a_word_in_several_lists_belongs_to_all_of_them():
    owners = word_owners({"id": wordfreq_lexicon("id", 3000, 0.5), "ms": wordfreq_lexicon("ms", 3000, 0.5)})
    assert sorted(owners["yang"]) == ["id", "ms"] and min(owners["yang"].values()) >= 0.5
    assert max(owners["yang"].values()) == 1.0


def test_a_shared_word_is_graded_by_how_much_each_language_uses_it():
    owners = word_owners({"sv": wordfreq_lexicon("sv", 20000, 0.5), "it": wordfreq_lexicon("it", 20000, 0.5)})
    assert owners["detta"]["sv"] == 1.0 and 0.5 < owners["detta"]["it"] < 0.55  # 1.8e-3 of Swedish, 4e-5 of Italian
    assert owners["och"] == {"sv": 1.0}


def test_a_language_without_frequencies_for_the_word_gets_a_full_target():
    lists = {"fi": wordfreq_lexicon("fi", 20000, 0.5), "et": uniform_lexicon(["kala", "talo"])}
    assert word_owners(lists)["kala"] == {"et": 1.0, "fi": 1.0}
