"""Firefox's translated interface messages: Fluent and .properties parsing, untranslated English dropped.

The packs here are small fixtures written by the test in the language packs' layout; the last
test reads the real packs where scripts/fetch-firefox-l10n.sh has fetched them."""

from __future__ import annotations

import json
import zipfile

import pytest

from models import data_firefox
from models.data_corpora import MissingSource
from models.data_firefox import clean, firefox_messages, pack_version, parse_ftl, parse_properties

FTL = """# This Source Code Form is subject to the terms of the Mozilla Public License
restricted-page-title = {TITLE}
# Variables:
#   $count (Number): tabs
close-tabs =
    {{ $count ->
        [one] {ONE}
       *[other] {OTHER}
    }}
save-button =
    .label = {SAVE}
    .accesskey = S
    .style = width: 30em
-brand-short-name = Firefox
"""


def write_pack(root, locale: str, title: str, one: str, other: str, save: str, prop: str) -> None:
    with zipfile.ZipFile(root / f"langpack-{locale}@firefox-esr.mozilla.org.xpi", "w") as pack:
        pack.writestr("manifest.json", json.dumps({"langpack_id": locale, "version": "153.8.1"}))
        pack.writestr(f"localization/{locale}/browser/page.ftl",
                      FTL.format(TITLE=title, ONE=one, OTHER=other, SAVE=save))
        pack.writestr(f"chrome/{locale}/locale/{locale}/global/alert.properties", f"# comment\nalert.label = {prop}\n")


@pytest.fixture
def packs(tmp_path):
    write_pack(tmp_path, "en-GB", "Restricted Content", "Close { $count } tab", "Close { $count } tabs",
               "Save colour", "Pause notifications until %S restarts")
    write_pack(tmp_path, "en-CA", "Restricted Content", "Close { $count } tab", "Close { $count } tabs",
               "Save color", "Pause notifications until %S restarts")
    # Malay: the title left untranslated, one message in the en-US spelling only en-CA shares.
    write_pack(tmp_path, "ms", "Restricted Content", "Tutup { $count } tab", "Tutup { $count } tab-tab",
               "Save color", "Jeda notifikasi hingga %S mula semula")
    return tmp_path


def test_fluent_messages_attributes_and_variants_are_read_terms_are_not():
    found = parse_ftl(FTL.format(TITLE="Tajuk", ONE="satu", OTHER="banyak", SAVE="Simpan"))
    assert found["restricted-page-title"] == "Tajuk"
    assert found["close-tabs"].split() == ["{", "$count", "->", "banyak", "}"]  # the default variant
    assert found["save-button.label"] == "Simpan"
    assert found["save-button.accesskey"] == "S"
    assert "-brand-short-name" not in found


def test_properties_plural_forms_become_one_message():
    assert parse_properties("# c\n! c\nkey = a;b;c\nother=x\n") == {"key": "a b c", "other": "x"}


def test_placeables_placeholders_and_markup_are_removed():
    assert clean("{ $count -> Tutup { $count } tab Tutup tab-tab }") == "Tutup tab Tutup tab-tab"
    assert clean("Buka { -brand-short-name } { $n -> { $x -> a b } c }") == "Buka a b c"
    assert clean("Jeda %S hingga %1$S <b>mula</b> semula #1") == "Jeda hingga mula semula"


def test_translations_are_kept_untranslated_english_and_keys_are_dropped(packs):
    found = firefox_messages(["en", "ms"], packs)
    assert found["ms"] == ["Jeda notifikasi hingga mula semula", "Tutup tab-tab"]
    assert "Restricted Content" in found["en"] and "Save colour" in found["en"]
    assert not any(text in {"S", "width: 30em"} for texts in found.values() for text in texts)
    assert pack_version(packs) == "153.8.1"


def test_english_words_alone_are_taken_for_an_untranslated_message(packs):
    write_pack(packs, "id", "Konten Terbatas", "Tutup tab", "Tutup tab", "Save restricted content", "Content restricted")
    found = firefox_messages(["id"], packs)["id"]
    assert found == ["Konten Terbatas", "Tutup tab"]


def test_missing_packs_stop_training_with_one_line_naming_the_script(tmp_path, packs):
    with pytest.raises(MissingSource, match="bash scripts/fetch-firefox-l10n.sh") as caught:
        firefox_messages(["ms"], tmp_path / "nowhere")
    assert "\n" not in str(caught.value)
    with pytest.raises(MissingSource, match="langpack-th@firefox-esr.mozilla.org.xpi is missing"):
        firefox_messages(["th"], packs)


@pytest.mark.skipif(not data_firefox.xpi_path("ms").exists(), reason="scripts/fetch-firefox-l10n.sh has not run")
def test_the_real_packs_give_thousands_of_messages_for_malay_indonesian_and_thai():
    found = firefox_messages(["en", "id", "ms", "th", "sr"])
    assert all(len(texts) > 4000 for texts in found.values())
    assert "Tetapan" in " ".join(found["ms"]) and "Pengaturan" in " ".join(found["id"])
    assert sum(any("\u0400" <= ch <= "\u04ff" for ch in t) for t in found["sr"]) > 0.95 * len(found["sr"])
