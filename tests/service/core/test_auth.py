"""API key and admin token checks shared by HTTP and gRPC (core/auth.py)."""

from __future__ import annotations

import pytest

from service.core.auth import check_admin, check_api_key, presented_token
from service.core.errors import Forbidden, Unauthorized, status_code_for

KEY_WORDS = "missing or invalid API key: send 'Authorization: Bearer <key>' or 'X-API-Key'"
ADMIN_WORDS = "missing or invalid admin token: send 'Authorization: Bearer <token>'"
DISABLED_WORDS = "admin endpoints are disabled: set ORTSERVE_ADMIN_TOKEN to enable them"


@pytest.mark.parametrize("authorization, x_api_key, token", [
    ("Bearer abc", None, "abc"),
    ("Bearer abc", "xyz", "abc"),  # Bearer wins over X-API-Key
    ("bearer abc", "xyz", "abc"),
    ("BEARER abc", None, "abc"),
    ("Bearer   abc  ", None, "abc"),  # surrounding spaces are not part of the token
    (None, "xyz", "xyz"),
    ("", "xyz", "xyz"),
    ("Basic dXNlcjpwdw==", "xyz", "xyz"),  # another scheme is not a token
    ("Bearerabc", "xyz", "xyz"),  # the scheme needs its space
    ("Basic dXNlcjpwdw==", None, None),
    (None, None, None),
])
def test_presented_token_prefers_bearer_then_x_api_key(authorization, x_api_key, token):
    assert presented_token(authorization, x_api_key) == token


@pytest.mark.parametrize("presented", [None, "", "anything"])
def test_no_configured_key_lets_everyone_in(presented):
    check_api_key(presented, None)
    check_api_key(presented, "")


def test_the_right_key_passes():
    check_api_key("s3cret", "s3cret")


@pytest.mark.parametrize("presented", [None, "", "s3cre", "s3cret ", "S3CRET", "s3cret-and-more"])
def test_a_missing_or_wrong_key_is_unauthorized_with_the_exact_words(presented):
    with pytest.raises(Unauthorized) as info:
        check_api_key(presented, "s3cret")
    assert info.value.message == KEY_WORDS
    assert status_code_for(info.value) == 401


def test_non_ascii_keys_compare_as_utf8():
    check_api_key("clé", "clé")
    with pytest.raises(Unauthorized):
        check_api_key("cle", "clé")


@pytest.mark.parametrize("expected", [None, ""])
@pytest.mark.parametrize("presented", [None, "admin"])
def test_admin_is_forbidden_while_no_token_is_configured(presented, expected):
    with pytest.raises(Forbidden) as info:
        check_admin(presented, expected)
    assert info.value.message == DISABLED_WORDS
    assert status_code_for(info.value) == 403


@pytest.mark.parametrize("presented", [None, "", "admi", "wrong"])
def test_a_missing_or_wrong_admin_token_is_unauthorized(presented):
    with pytest.raises(Unauthorized) as info:
        check_admin(presented, "admin")
    assert info.value.message == ADMIN_WORDS
    assert status_code_for(info.value) == 401


def test_the_right_admin_token_passes():
    check_admin("admin", "admin")
