"""Triton's metric families rendered by hand (core/triton_metrics.py): exact exposition text."""

from __future__ import annotations

import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.core.triton_metrics import Family, format_number


def counter() -> Family:
    return Family("nv_inference_count", "Number of inferences performed", "counter", ("model", "version"))


def test_an_empty_family_has_only_its_help_and_type_lines():
    assert counter().render() == (
        "# HELP nv_inference_count Number of inferences performed\n"
        "# TYPE nv_inference_count counter\n"
    )


def test_a_counter_keeps_its_name_without_total_and_adds_up():
    family = counter()
    family.inc(("affine", "1"))
    family.inc(("affine", "1"), 4)
    family.inc(("affine", "2"), 0.5)
    assert family.value(("affine", "1")) == 5.0
    assert family.value(("affine", "3")) == 0.0
    assert family.render() == (
        "# HELP nv_inference_count Number of inferences performed\n"
        "# TYPE nv_inference_count counter\n"
        'nv_inference_count{model="affine",version="1"} 5\n'
        'nv_inference_count{model="affine",version="2"} 0.5\n'
    )
    assert "_total" not in family.render()


def test_rows_are_sorted_by_their_labels_whatever_the_order_of_updates():
    family = counter()
    for labels in [("b", "1"), ("a", "2"), ("a", "10")]:
        family.inc(labels)
    rows = family.render().splitlines()[2:]
    assert rows == [
        'nv_inference_count{model="a",version="10"} 1',
        'nv_inference_count{model="a",version="2"} 1',
        'nv_inference_count{model="b",version="1"} 1',
    ]


def test_a_gauge_is_set_not_added():
    family = Family("nv_inference_pending_request_count", "Pending requests", "gauge", ("model", "version"))
    family.set(("m", "1"), 7)
    family.set(("m", "1"), 2)
    assert family.render() == (
        "# HELP nv_inference_pending_request_count Pending requests\n"
        "# TYPE nv_inference_pending_request_count gauge\n"
        'nv_inference_pending_request_count{model="m",version="1"} 2\n'
    )


def test_label_values_are_escaped():
    family = Family("nv_x", "doc", "counter", ("model", "reason"))
    family.inc(("a\\b", 'say "hi"\nnow'))
    assert family.render().splitlines()[2] == 'nv_x{model="a\\\\b",reason="say \\"hi\\"\\nnow"} 1'


def test_prometheus_reads_the_text_back_with_the_same_labels_and_values():
    family = Family("nv_inference_request_failure", "Failed requests", "counter", ("model", "version", "reason"))
    family.inc(("we\"ird\\name", "1", "line\nbreak"), 3)
    (parsed,) = text_string_to_metric_families(family.render())
    assert (parsed.name, parsed.type, parsed.documentation) == ("nv_inference_request_failure", "counter", "Failed requests")
    (sample,) = parsed.samples  # (the parser itself renames a counter's sample to *_total)
    assert sample.labels == {"model": "we\"ird\\name", "version": "1", "reason": "line\nbreak"}
    assert sample.value == 3.0


@pytest.mark.parametrize("value, text", [
    (0, "0"), (3, "3"), (3.0, "3"), (-3.0, "-3"), (0.5, "0.5"), (2.5e-7, "2.5e-07"),
    (123456789012345.0, "123456789012345"),  # below 1e15: still an exact integer
    (1e15, "1000000000000000.0"),  # from 1e15 on: as a float, like Python's repr
])
def test_format_number(value, text):
    assert format_number(value) == text


def test_concurrent_increments_are_not_lost():
    family = counter()

    def add() -> None:
        for _ in range(2000):
            family.inc(("m", "1"))

    threads = [threading.Thread(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert family.value(("m", "1")) == 8000.0


def test_non_finite_values_use_the_text_formats_spellings():
    # One bad value must not fail the whole scrape.
    assert [format_number(v) for v in (float("inf"), float("-inf"), float("nan"))] == ["+Inf", "-Inf", "NaN"]
