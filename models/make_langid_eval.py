"""Rebuild models/data/langid_eval.tsv: real sentences that langid training never reads.

    pip download --no-deps django==5.2.19 -d /tmp/dj && python -m models.make_langid_eval /tmp/dj/django-5.2.19-py3-none-any.whl

The sentences are Django's own user-interface messages as its volunteer translators wrote
them (the `msgstr` of every `django.po` in the wheel; English is the `msgid`). They are
ordinary written sentences ("No fields changed.", "Are you sure?") from a source that
has nothing to do with CLDR or wordfreq. Django and its translations: BSD 3-Clause.
Only this script reads the wheel; the TSV it writes is what ships and what evaluation reads.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sys
import zipfile
from pathlib import Path

from .data_text import LANGUAGES

OUT = Path(__file__).resolve().parent / "data" / "langid_eval.tsv"
PER_LANGUAGE = 20
# Django's locale folder for each of our labels, where the code differs.
DJANGO_LOCALE = {"no": "nb", "zh": "zh_Hans"}
UNSPACED = {"ja", "zh", "th"}  # scripts written without spaces between words
# Placeholders, markup, paths and e-mail addresses are not prose.
NOT_PROSE = re.compile(r"[%{}<>/\\@_=]|https?:|\.\w|\n")


def po_messages(text: str) -> list[tuple[str, str]]:
    """(msgid, msgstr) pairs of the singular messages of a .po file."""
    pairs, current, key = [], {}, None
    for line in text.splitlines():
        if line.startswith("msgid "):
            if current.get("msgstr") is not None:
                pairs.append((current["msgid"], current["msgstr"]))
            current, key = {"msgid": ast.literal_eval(line[6:])}, "msgid"
        elif line.startswith("msgstr "):
            current["msgstr"], key = ast.literal_eval(line[7:]), "msgstr"
        elif line.startswith('"') and key:
            current[key] += ast.literal_eval(line)
        elif line.startswith(("msgid_plural", "msgstr[")):
            key = None  # plural forms: skipped, their singular is enough
    if current.get("msgstr") is not None:
        pairs.append((current["msgid"], current["msgstr"]))
    return [(i, s) for i, s in pairs if i]  # msgid "" is the header


def is_sentence(text: str, language: str) -> bool:
    text = text.strip()
    if NOT_PROSE.search(text) or sum(ch.isalpha() for ch in text) < 12:
        return False
    return len(text) >= 10 if language in UNSPACED else len(text.split()) >= 3


def sentences(wheel: zipfile.ZipFile, language: str) -> list[tuple[str, str]]:
    """Every distinct prose message of one language, with the .po file it came from."""
    locale = "de" if language == "en" else DJANGO_LOCALE.get(language, language)
    found: dict[str, str] = {}
    for name in sorted(wheel.namelist()):
        if not name.endswith(f"/locale/{locale}/LC_MESSAGES/django.po"):
            continue
        for msgid, msgstr in po_messages(wheel.read(name).decode("utf-8")):
            text = " ".join((msgid if language == "en" else msgstr).split())
            if is_sentence(text, language) and (language == "en" or text != msgid):
                found.setdefault(text, name.replace(f"/{locale}/", f"/{locale if language != 'en' else 'en'}/"))
    return sorted(found.items(), key=lambda item: hashlib.sha256(item[0].encode()).hexdigest())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with zipfile.ZipFile(argv[0]) as wheel:
        rows = [(lang, text, source) for lang in LANGUAGES for text, source in sentences(wheel, lang)[:PER_LANGUAGE]]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as handle:
        handle.write("# Django 5.2.19 translations (BSD 3-Clause, https://www.djangoproject.com); "
                     "rebuilt by models/make_langid_eval.py\nlanguage\ttext\tsource\n")
        handle.writelines(f"{lang}\t{text}\t{source}\n" for lang, text, source in rows)
    print(f"wrote {len(rows)} sentences to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
