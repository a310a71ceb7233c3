"""Text data for language identification: Unicode CLDR names (via babel) and users' CSV files.

A CLDR string such as "Argentina" is spelled the same in many languages, so a
sample is (text, set of languages) and the targets are multi-hot. Strings shared
by 20 or more of our locales (country names like "Angola", unit fallbacks)
carry no language signal and are dropped.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LANGUAGES = [
    "ar", "bg", "ca", "cs", "da", "de", "el", "en", "es", "et", "fa", "fi", "fr", "he", "hi", "hr", "hu", "id", "is",
    "it", "ja", "ko", "lt", "lv", "ms", "nl", "no", "pl", "pt", "ro", "ru", "sk", "sl", "sr", "sv", "th", "tr", "uk",
    "vi", "zh",
]
MAX_SHARED = 20
CLDR_SOURCE = {
    "name": "Unicode CLDR display names (territories, languages, scripts, currencies, "
    "variants, months, days, quarters, units) as shipped in babel",
    "url": "https://cldr.unicode.org",
    "licence": "Unicode License v3 (https://www.unicode.org/license.txt)",
}


@dataclass
class TextSet:
    """Unique texts with their label sets."""

    texts: list[str]
    labels: list[list[str]]
    classes: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: np.ndarray) -> TextSet:
        return TextSet([self.texts[i] for i in index], [self.labels[i] for i in index], self.classes)


def locale_strings(code: str) -> set[str]:
    """Every display name CLDR gives one locale."""
    from babel import Locale

    locale = Locale.parse(code)
    data = locale._data  # babel exposes unit names only through the raw data dict
    found: set[str] = set()
    for table in (locale.territories, locale.languages, locale.scripts, locale.currencies, locale.variants):
        found.update(table.values())
    for context in ("format", "stand-alone"):
        for width in ("wide", "abbreviated"):
            found.update(locale.months[context][width].values())
            found.update(locale.days[context][width].values())
        found.update(locale.quarters[context]["wide"].values())
    for unit in data["unit_display_names"].values():
        if "long" in unit:
            found.add(unit["long"])
    return {s.strip() for s in found if isinstance(s, str) and s.strip()}


def load_cldr(languages: list[str] = LANGUAGES, max_shared: int = MAX_SHARED) -> TextSet:
    """Unique CLDR strings -> the languages that spell them that way, sorted by text."""
    owners: dict[str, set[str]] = defaultdict(set)
    for code in languages:
        for text in locale_strings(code):
            owners[text].add(code)
    texts = sorted(t for t, langs in owners.items() if len(langs) < max_shared)
    return TextSet(texts, [sorted(owners[t]) for t in texts], list(languages))


def split_labels(field: str) -> list[str]:
    """'en|fr' or 'en fr' -> ['en', 'fr']."""
    return [label for label in re.split(r"[|\s]+", field.strip()) if label]


def load_csv(path: str | Path) -> TextSet:
    """A `text,labels` CSV (header optional; labels separated by '|' or spaces).

    Rows with the same text are merged into one sample whose label set is the union.
    """
    owners: dict[str, set[str]] = defaultdict(set)
    with open(path, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if number == 1 and [c.strip().lower() for c in row] == ["text", "labels"]:
                continue
            if not row or not "".join(row).strip():
                continue
            if len(row) != 2:
                raise ValueError(f"{path}:{number}: expected 2 columns (text,labels), got {len(row)}")
            labels = split_labels(row[1])
            if not row[0] or not labels:
                raise ValueError(f"{path}:{number}: empty text or labels")
            owners[row[0]].update(labels)
    texts = sorted(owners)
    classes = sorted({label for labels in owners.values() for label in labels})
    return TextSet(texts, [sorted(owners[t]) for t in texts], classes)


def load_text_data(spec: str | None) -> TextSet:
    """`None` -> CLDR; `csv:<path>` -> the user's file."""
    if spec is None or spec == "cldr":
        return load_cldr()
    kind, _, path = spec.partition(":")
    if kind != "csv" or not path:
        raise ValueError(f"--data must be 'cldr' or 'csv:<path>', got {spec!r}")
    return load_csv(path)


def split_by_text(data: TextSet, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Held-out split by unique string (each text is in exactly one side)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data))
    n_test = round(len(data) * test_fraction)
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    digest = hashlib.sha256("\n".join(data.texts[i] for i in test).encode()).hexdigest()
    record = {
        "method": f"by unique string: numpy default_rng({seed}).permutation, test_fraction={test_fraction}",
        "train_size": len(train),
        "test_size": len(test),
        "test_texts_sha256": digest,
    }
    return train, test, record
