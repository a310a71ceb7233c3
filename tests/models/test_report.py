"""The generated RESULTS.md: every language-id training source is listed with its licence."""

from pathlib import Path

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


def test_the_docs_show_every_figure_of_the_report():
    """The results pages (docs/results/) and Reference models show RESULTS.md's figures as the run
    records hold them: each section of the report, and each model's table, appears in a page verbatim."""
    from models.report import render

    docs = Path(__file__).resolve().parents[2] / "docs"
    pages = "\n".join(page.read_text(encoding="utf-8") for page in sorted(docs.rglob("*.md")))
    sections = render().split("\n## ")[1:]
    blocks = [part.split("\n", 1)[1].strip() for section in sections for part in section.split("\n### ")
              if not section.startswith("Models\n") or part != section]
    assert len(blocks) >= 12, len(blocks)
    for block in blocks:
        assert block in pages, f"no page shows this part of models/RESULTS.md:\n{block[:400]}"
