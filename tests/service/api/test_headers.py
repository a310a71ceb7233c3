"""The security headers and content security policy of every answer (api/headers.py)."""

from __future__ import annotations

import pytest

from service.api.headers import (
    BINARY,
    DOCS_CSP,
    JSON,
    SECURITY_HEADERS,
    STRICT_CSP,
    STRICT_TAIL,
    STRICT_TAIL_RAW,
    encode,
    security_tail,
)

SECURITY = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
STRICT = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
DOCS = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    b"connect-src 'self'; frame-ancestors 'none'",
)


def test_the_exact_header_values():
    assert SECURITY_HEADERS == SECURITY
    assert STRICT_CSP == STRICT
    assert DOCS_CSP == DOCS
    assert JSON == (b"content-type", b"application/json")
    assert BINARY == (b"content-type", b"application/octet-stream")


@pytest.mark.parametrize("path", ["/docs", "/docs/", "/docs/oauth2-redirect", "/docs/assets/swagger-ui-bundle.js"])
def test_the_docs_pages_may_load_this_origins_assets(path):
    assert security_tail(path) == [*SECURITY, DOCS]


@pytest.mark.parametrize("path", [
    "/", "/v2", "/v2/models/affine/infer", "/metrics", "/openapi.json", "/doc", "/v2/docs", "",
])
def test_every_other_path_gets_the_strict_policy(path):
    assert security_tail(path) == [*SECURITY, STRICT]


def test_each_answer_carries_exactly_one_policy_last():
    for path in ("/docs", "/v2"):
        tail = security_tail(path)
        assert [name for name, _ in tail].count(b"content-security-policy") == 1
        assert tail[-1][0] == b"content-security-policy"


def test_the_tails_are_shared_lists_built_once():
    assert security_tail("/v2") is security_tail("/metrics")
    assert security_tail("/docs") is security_tail("/docs/x")
    assert security_tail("/docs") is not security_tail("/v2")


def test_encode_writes_each_header_as_a_crlf_terminated_line():
    assert encode([JSON, (b"retry-after", b"1")]) == b"content-type: application/json\r\nretry-after: 1\r\n"
    assert encode([]) == b""


def test_the_strict_tail_is_encoded_once_for_answers_written_in_one_piece():
    assert STRICT_TAIL is security_tail("/v2")
    assert STRICT_TAIL_RAW == (
        b"x-content-type-options: nosniff\r\n"
        b"x-frame-options: DENY\r\n"
        b"referrer-policy: no-referrer\r\n"
        b"cache-control: no-store\r\n"
        b"content-security-policy: default-src 'none'; frame-ancestors 'none'\r\n"
    )


def test_a_path_that_only_starts_like_docs_gets_the_strict_policy():
    assert security_tail("/docsx") is security_tail("/v2")
