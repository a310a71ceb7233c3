"""The headers every HTTP answer carries: security headers and a content security policy per page kind.

Shared by the edge (api/edge.py) and by the answers written before any ASGI work
(the canned 503 of api/admission.py), so a rejection looks like any other answer.
"""

from __future__ import annotations

Header = tuple[bytes, bytes]

SECURITY_HEADERS: list[Header] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
STRICT_CSP: Header = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
# The docs UI (assets bundled, see api/docs.py) may load this origin's scripts and styles and
# fetch /openapi.json; Swagger UI sets style attributes and draws icons from data: URLs.
DOCS_CSP: Header = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    b"connect-src 'self'; frame-ancestors 'none'",
)
# The playground (api/playground.py): its own scripts, styles and fetches only; it draws on canvases,
# sets styles through the CSSOM (never style attributes), and never submits a form.
UI_CSP: Header = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
)
# Path prefixes whose pages load this origin's assets, with the policy they get.
PAGE_POLICIES: tuple[tuple[str, Header], ...] = (("/docs", DOCS_CSP), ("/ui", UI_CSP))

JSON: Header = (b"content-type", b"application/json")
BINARY: Header = (b"content-type", b"application/octet-stream")

_STRICT_TAIL = [*SECURITY_HEADERS, STRICT_CSP]
_PAGE_TAILS = tuple((prefix, [*SECURITY_HEADERS, csp]) for prefix, csp in PAGE_POLICIES)


def encode(headers: list[Header]) -> bytes:
    """Header lines as written on the wire (each ends with CRLF), for answers written in one piece."""
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


# The API's answers (everything but the pages), encoded once.
STRICT_TAIL = _STRICT_TAIL
STRICT_TAIL_RAW = encode(_STRICT_TAIL)


def security_tail(path: str) -> list[Header]:
    """The security headers and CSP for an answer to `path` (shared lists: copy before changing)."""
    for prefix, tail in _PAGE_TAILS:
        if path == prefix or path.startswith(prefix + "/"):  # /docs and below, not /docsx
            return tail
    return _STRICT_TAIL
