"""Real text for language id beyond wordfreq, from packages that ship it offline.

- Estonian words: Debian's `myspell-et` spelling dictionary (/usr/share/hunspell/et_EE.dic,
  LGPL-2.1 or later), about 280k inflected forms. wordfreq has no Estonian list, and CLDR's few
  hundred display names taught the model almost no Estonian (2 of 20 real sentences right).
- Interface messages: the translations shipped in the `sphinx` wheel
  (sphinx/locale/<locale>/LC_MESSAGES/sphinx.po, BSD-2-Clause). They are real sentences
  written by translators, in the register of software interfaces. The package is only a
  carrier: it is found with importlib.util.find_spec, which does not import it (installed
  with --no-deps by scripts/install-dev.sh, like aeon).
Training never reads Django or the evaluation sentences (models/data/langid_eval.tsv).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

HUNSPELL_ET = Path("/usr/share/hunspell/et_EE.dic")
SPHINX_VERSION = "9.0.4"
ESTONIAN_SOURCE = {
    "name": "Estonian spelling dictionary (Debian package myspell-et 1:20030606, by Jaak Pruulmann), "
            "word forms of /usr/share/hunspell/et_EE.dic, equally weighted",
    "url": "https://packages.debian.org/myspell-et",
    "licence": "LGPL-2.1 or later",
}
SPHINX_SOURCE = {
    "name": f"Sphinx {SPHINX_VERSION} interface messages as written by its translators (msgstr of "
            "sphinx/locale/*/LC_MESSAGES/sphinx.po; untranslated copies of the English dropped)",
    "url": "https://www.sphinx-doc.org (the sphinx wheel on PyPI)",
    "licence": "BSD-2-Clause (Sphinx and its translations)",
}
# Our label -> Sphinx's locale folders (Sphinx's `no`, `nb` and `pt` folders are empty).
SPHINX_LOCALES = {"no": ["nb_NO"], "pt": ["pt_PT", "pt_BR"], "zh": ["zh_CN", "zh_TW"], "uk": ["uk_UA"]}
# Languages so close that the register of the text must not tell them apart: when Sphinx
# has one of a pair and not the other (Indonesian but no Malay), neither gets messages,
# or "sounds like an interface" would become "is Indonesian" (Malay fell from 4 to 0 of 20).
CLOSE_PAIRS = [("id", "ms"), ("da", "no"), ("cs", "sk"), ("hr", "sr"), ("hr", "sl"), ("es", "ca"), ("es", "pt")]
_PLACEHOLDER = re.compile(r"%\([^)]*\)[-+ #0-9.]*[a-z]|%[-+ #0-9.]*[a-zA-Z]|%%|\{[^}]*\}|<[^>]*>|&#?\w+;|[*`]")


class MissingSource(SystemExit):
    """A training source is not installed: one line that says what to install."""


def estonian_words() -> list[str]:
    """The dictionary's word forms, lower-cased, letters only, sorted (no frequencies ship with it)."""
    if not HUNSPELL_ET.exists():
        raise MissingSource(f"Estonian training words need {HUNSPELL_ET}: apt-get install myspell-et "
                            "(scripts/install-dev.sh installs it)")
    encoding = "iso-8859-15"  # the .aff file's SET line
    lines = HUNSPELL_ET.read_text(encoding=encoding).splitlines()[1:]  # the first line is the count
    words = {line.split("/", 1)[0].strip().lower() for line in lines}
    return sorted(w for w in words if w.isalpha())


def clean_message(text: str) -> str:
    """A msgstr without its placeholders, markup and entities, whitespace collapsed."""
    return " ".join(_PLACEHOLDER.sub(" ", text).replace("<<", " ").replace(">>", " ").split())


def sphinx_messages(languages: list[str]) -> dict[str, list[str]]:
    """Translated Sphinx messages per language (languages with none are left out)."""
    from babel.messages.pofile import read_po

    spec = importlib.util.find_spec("sphinx")
    if spec is None or spec.origin is None:
        raise MissingSource(f"interface messages for training need the sphinx wheel: pip install --no-deps "
                            f"sphinx=={SPHINX_VERSION} (scripts/install-dev.sh installs it)")
    root = Path(spec.origin).parent / "locale"
    found: dict[str, list[str]] = {}
    for code in languages:
        texts: set[str] = set()
        if code == "en":  # Sphinx's English is the msgid of every message, in its template
            with (root / "sphinx.pot").open("rb") as handle:
                texts = {clean_message(m.id if isinstance(m.id, str) else m.id[0]) for m in read_po(handle) if m.id}
            texts = {t for t in texts if sum(ch.isalpha() for ch in t) >= 3}
        for folder in SPHINX_LOCALES.get(code, [code] if code != "en" else []):
            path = root / folder / "LC_MESSAGES" / "sphinx.po"
            if not path.exists():
                continue
            with path.open("rb") as handle:
                catalog = read_po(handle)
            for message in catalog:
                if not message.id:  # the header entry (msgid "") is metadata, not a message
                    continue
                english = message.id if isinstance(message.id, (list, tuple)) else [message.id]
                for text in message.string if isinstance(message.string, (list, tuple)) else [message.string]:
                    if text and text not in english:
                        cleaned = clean_message(text)
                        if sum(ch.isalpha() for ch in cleaned) >= 3:
                            texts.add(cleaned)
        if texts:
            found[code] = sorted(texts)
    for pair in CLOSE_PAIRS:
        if all(code in languages for code in pair) and sum(code in found for code in pair) == 1:
            for code in pair:
                found.pop(code, None)
    return found
