"""The generated RESULTS.md: every language-id training source is listed with its licence."""

from models.report import training_data_section


def test_sources_nested_under_one_kind_of_data_are_listed_each_with_its_licence():
    data = {"cldr": {"name": "CLDR", "url": "https://cldr.unicode.org", "licence": "Unicode-3.0"},
            "messages": {"per_language": {"ms": 4615},
                         "sphinx": {"name": "Sphinx", "licence": "BSD-2-Clause"},
                         "firefox": {"name": "Firefox", "url": "https://www.mozilla.org", "licence": "MPL-2.0",
                                     "version": "153.8"}},
            "shared_words": "graded targets"}
    rows = [line for line in training_data_section(data) if line.startswith("| ") and "licence" not in line]
    assert rows == ["| CLDR | https://cldr.unicode.org | Unicode-3.0 |", "| Sphinx |  | BSD-2-Clause |",
                    "| Firefox | https://www.mozilla.org | MPL-2.0 |"]


def test_no_sources_no_section():
    assert training_data_section({"name": "csv:my.csv"}) == []
