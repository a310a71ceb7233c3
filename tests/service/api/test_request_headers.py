"""The request headers read in one pass at the edge (api/request_headers.py)."""

from __future__ import annotations

import pytest

from service.api.request_headers import HEADER_LENGTH, REQUEST, RequestHeaders


def test_one_pass_reads_every_header_the_server_uses_and_ignores_the_rest():
    headers = RequestHeaders.read([
        (b"host", b"127.0.0.1:8000"),
        (b"content-length", b"1234"),
        (b"inference-header-content-length", b"120"),
        (b"x-request-id", b"req-7"),
        (b"authorization", b"Bearer tok"),
        (b"x-api-key", b"key"),
        (b"content-type", b"application/octet-stream"),
    ])
    assert headers == RequestHeaders(
        request_id="req-7", content_length=1234, header_length="120", authorization="Bearer tok", api_key="key",
    )


def test_no_headers_reads_as_none_everywhere():
    assert RequestHeaders.read([]) == RequestHeaders(None, None, None, None, None)


def test_the_first_of_repeated_headers_wins():
    headers = RequestHeaders.read([
        (b"content-length", b"10"), (b"content-length", b"20"),
        (b"inference-header-content-length", b"1"), (b"inference-header-content-length", b"2"),
        (b"x-request-id", b"first"), (b"x-request-id", b"second"),
        (b"authorization", b"Bearer one"), (b"authorization", b"Bearer two"),
        (b"x-api-key", b"a"), (b"x-api-key", b"b"),
    ])
    assert headers == RequestHeaders("first", 10, "1", "Bearer one", "a")


@pytest.mark.parametrize("value", [b"", b"abc", b"-1", b"+5", b" 5", b"5 ", b"1.5", b"0x10", b"\xd9\xa3"])
def test_a_content_length_of_anything_but_digits_counts_as_none(value):
    assert RequestHeaders.read([(b"content-length", value)]).content_length is None


def test_content_length_keeps_leading_zeros_out_of_the_number():
    assert RequestHeaders.read([(b"content-length", b"007")]).content_length == 7
    assert RequestHeaders.read([(b"content-length", b"0")]).content_length == 0


def test_the_binary_header_length_is_kept_as_sent_for_the_protocol_to_check():
    assert RequestHeaders.read([(HEADER_LENGTH, b"-3")]).header_length == "-3"
    assert HEADER_LENGTH == b"inference-header-content-length"


def test_values_are_decoded_as_latin_1():
    headers = RequestHeaders.read([(b"x-request-id", b"caf\xe9"), (b"x-api-key", b"\xff")])
    assert (headers.request_id, headers.api_key) == ("café", "ÿ")


@pytest.mark.parametrize("raw, token", [
    ([(b"authorization", b"Bearer tok"), (b"x-api-key", b"key")], "tok"),
    ([(b"x-api-key", b"key"), (b"authorization", b"bearer tok")], "tok"),  # the order of headers does not matter
    ([(b"authorization", b"Basic dXNlcg=="), (b"x-api-key", b"key")], "key"),
    ([(b"x-api-key", b"key")], "key"),
    ([(b"authorization", b"Basic dXNlcg==")], None),
    ([], None),
])
def test_token_prefers_bearer_then_x_api_key(raw, token):
    assert RequestHeaders.read(raw).token == token


def test_the_scope_key():
    assert REQUEST == "ortserve.request"


def test_the_first_content_length_decides_even_when_it_is_not_a_number():
    assert RequestHeaders.read([(b"content-length", b"abc"), (b"content-length", b"5")]).content_length is None
