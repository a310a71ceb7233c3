"""Real text beyond wordfreq: Estonian dictionary words and Sphinx's translated messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import data_corpora
from models.data_corpora import MissingSource, clean_message, estonian_words, sphinx_messages

LANGUAGES = ["en", "et", "de", "id", "ms", "no", "pt", "th"]


def test_placeholders_markup_and_entities_are_removed():
    assert clean_message("Otsi %(docstitle)s &#8212; <b>{0}</b> %s lehelt") == "Otsi lehelt"


@pytest.mark.skipif(not data_corpora.HUNSPELL_ET.exists(), reason="myspell-et is not installed")
def test_estonian_words_are_lower_case_word_forms_of_the_dictionary():
    words = estonian_words()
    assert len(words) > 200_000
    assert {"parool", "salvesta", "kustuta"} <= set(words)
    assert all(w == w.lower() and w.isalpha() for w in words[::1000])


def test_a_missing_dictionary_stops_training_with_one_line(monkeypatch):
    monkeypatch.setattr(data_corpora, "HUNSPELL_ET", Path("/nonexistent/et_EE.dic"))
    with pytest.raises(MissingSource, match="apt-get install myspell-et") as caught:
        estonian_words()
    assert "\n" not in str(caught.value)


@pytest.mark.skipif(not data_corpora.importlib.util.find_spec("sphinx"), reason="the sphinx wheel is not installed")
def test_sphinx_messages_are_translations_without_placeholders():
    found = sphinx_messages(LANGUAGES)
    assert len(found["et"]) > 300 and len(found["no"]) > 100 and len(found["pt"]) > 500
    assert "Search" in " ".join(found["en"])  # English is the template's msgid
    assert not any("%" in text or "{" in text for texts in found.values() for text in texts)
    # Sphinx has Indonesian but no Malay: neither gets messages, so register cannot tell them apart.
    assert "id" not in found and "ms" not in found and "th" not in found
