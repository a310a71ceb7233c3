"""Firefox's interface messages as written by its translators: real sentences for language id.

Debian ships Firefox ESR's language packs as `firefox-esr-l10n-<locale>` packages (MPL-2.0),
one .xpi (a zip) of Fluent (.ftl) and .properties files per locale, for all 40 of our
languages. scripts/fetch-firefox-l10n.sh downloads them without Firefox itself (apt-get
download, dpkg-deb -x) into FIREFOX_L10N. Sphinx's translations (models/data_corpora.py)
leave out Malay and Thai, and so Indonesian (its close pair); these cover every language, so
"sounds like an interface" no longer tells one language of a close pair from the other.

A message a translator has not translated is left in English: any message found in the British
or Canadian English pack (en-GB spells "colour", en-CA "color", like the en-US source; packs
leave out files they do not change) is dropped, and so is one made only of words those packs
use ("Show split console", a developer-tools string only the en-US source has).
Training never reads Django or the evaluation sentences (models/data/langid_eval.tsv).
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

from .data_corpora import MissingSource, clean_message

FIREFOX_L10N = Path(os.environ.get("ORTSERVE_FIREFOX_L10N",
                                   Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ortserve"
                                   / "firefox-l10n"))
FIREFOX_SOURCE = {
    "name": "Firefox ESR interface messages as written by its translators (Debian packages "
            "firefox-esr-l10n-<locale>: the .ftl and .properties files of each language pack; untranslated "
            "copies of the British English dropped)",
    "url": "https://packages.debian.org/bookworm/firefox-esr-l10n-all (https://www.mozilla.org/firefox)",
    "licence": "MPL-2.0 (Firefox and its localizations)",
}
ENGLISH = ["en-GB", "en-CA"]
# Our label -> the Firefox locales written in it (Debian's package names, lower-cased).
LOCALES = {"en": ["en-GB"], "es": ["es-ES"], "hi": ["hi-IN"], "no": ["nb-NO"], "pt": ["pt-PT", "pt-BR"],
           "sv": ["sv-SE"], "zh": ["zh-CN", "zh-TW"]}
# Keys and attributes that hold an access key, a shortcut or CSS, not words.
_SKIP_KEY = re.compile(r"(accesskey|commandkey|\bkey|\.style|width|height|shortcut)$", re.IGNORECASE)
_FTL_MESSAGE = re.compile(r"^(-?[A-Za-z][\w-]*)\s*=\s?(.*)$")
_FTL_ATTRIBUTE = re.compile(r"^\s+\.([\w-]+)\s*=\s?(.*)$")
_FTL_VARIANT = re.compile(r"^\s+(\*?)\[[^\]]+\]\s?(.*)$")
_PLACEABLE = re.compile(r"\{(?:(?!->)[^{}])*\}")
_SELECTOR = re.compile(r"\{[^{}]*->")
_WORD = re.compile(r"[^\W\d_]+")
_PROPERTY_PLACEHOLDER = re.compile(r"%(\d+\$)?[SsDdFfu]|#\d+")


def xpi_path(locale: str, root: Path | None = None) -> Path:
    return (root or FIREFOX_L10N) / f"langpack-{locale}@firefox-esr.mozilla.org.xpi"


def parse_ftl(text: str) -> dict[str, str]:
    """Fluent messages and attributes -> their text. Of a selector ({ $count -> [one] ... *[other] ... })
    only the default variant is kept: the others repeat it in another grammatical number."""
    found: dict[str, list[str]] = {}
    key, skipping = None, False
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if match := _FTL_MESSAGE.match(line):
            key, skipping = match.group(1), False
            found[key] = [match.group(2)]
        elif key is None:
            continue
        elif match := _FTL_ATTRIBUTE.match(line):
            key, skipping = f"{key.split('.')[0]}.{match.group(1)}", False
            found[key] = [match.group(2)]
        elif match := _FTL_VARIANT.match(line):
            skipping = match.group(1) != "*"
            if not skipping:
                found[key].append(match.group(2))
        else:
            skipping = skipping and not line.strip().startswith("}")  # a selector's end ends its variants
            if not skipping:
                found[key].append(line.strip())
    return {k: " ".join(parts) for k, parts in found.items() if not k.startswith("-")}


def parse_properties(text: str) -> dict[str, str]:
    """key = value lines; plural forms (a;b;c) become separate words of one value."""
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, _, value = line.partition("=")
            found[key.strip()] = value.strip().replace(";", " ")
    return found


def clean(value: str) -> str:
    """A message without its placeables ({ $name }, { -brand-short-name }), the frame of its
    selectors ({ $count -> ... }, whose variants' words stay), %S placeholders, markup and entities."""
    previous = None
    while previous != value:  # innermost first: a selector's variants hold placeables
        previous, value = value, _PLACEABLE.sub(" ", value)
    value = _SELECTOR.sub(" ", value).replace("{", " ").replace("}", " ")
    return clean_message(_PROPERTY_PLACEHOLDER.sub(" ", value).replace("\\n", " "))


def existing_pack(locale: str, root: Path | None = None) -> Path:
    path = xpi_path(locale, root)
    if not path.exists():
        raise MissingSource(f"{path} is missing: language-id training reads Firefox's language packs; "
                            "bash scripts/fetch-firefox-l10n.sh")
    return path


def pack_messages(path: Path) -> list[str]:
    """Every message of one language pack, cleaned (access keys, shortcuts and CSS left out)."""
    out = []
    with zipfile.ZipFile(path) as pack:
        for name in pack.namelist():
            if name.endswith(".ftl"):
                entries = parse_ftl(pack.read(name).decode("utf-8"))
            elif name.endswith(".properties"):
                entries = parse_properties(pack.read(name).decode("utf-8"))
            else:
                continue
            out += [clean(value) for key, value in entries.items() if not _SKIP_KEY.search(key)]
    return out


def firefox_messages(languages: list[str], root: Path | None = None) -> dict[str, list[str]]:
    """Translated messages per language (at least 3 letters, each once), untranslated English dropped."""
    english = {text for locale in ENGLISH for text in pack_messages(existing_pack(locale, root))}
    english_words = {word for text in english for word in words(text)}
    found = {}
    for code in languages:
        texts: set[str] = set()
        for locale in LOCALES.get(code, [code]):
            for text in pack_messages(existing_pack(locale, root)):
                if sum(ch.isalpha() for ch in text) < 3:
                    continue
                if code == "en" or (text not in english and not words(text) <= english_words):
                    texts.add(text)
        found[code] = sorted(texts)
    return found


def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def pack_version(root: Path | None = None) -> str:
    """The language packs' Firefox version, for the results record."""
    with zipfile.ZipFile(xpi_path(ENGLISH[0], root)) as pack:
        return json.loads(pack.read("manifest.json"))["version"]
