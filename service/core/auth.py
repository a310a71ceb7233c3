"""API key and admin token checks, shared by the HTTP and gRPC front doors.

Both read the same two places (`Authorization: Bearer <token>`, else `X-API-Key`;
gRPC metadata keys are the same names in lower case) and answer the same words.
"""

from __future__ import annotations

import hmac

from .errors import Forbidden, Unauthorized


def presented_token(authorization: str | None, x_api_key: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return x_api_key


def _matches(presented: str | None, expected: str) -> bool:
    # Constant-time, so response timing does not leak how much of a guess was right.
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def check_api_key(presented: str | None, expected: str | None) -> None:
    """Raise Unauthorized unless no key is configured or the presented one matches."""
    if expected and not _matches(presented, expected):
        raise Unauthorized("missing or invalid API key: send 'Authorization: Bearer <key>' or 'X-API-Key'")


def check_admin(presented: str | None, expected: str | None) -> None:
    """Admin calls need a configured token (Forbidden otherwise) and the caller must present it."""
    if not expected:
        raise Forbidden("admin endpoints are disabled: set ORTSERVE_ADMIN_TOKEN to enable them")
    if not _matches(presented, expected):
        raise Unauthorized("missing or invalid admin token: send 'Authorization: Bearer <token>'")
