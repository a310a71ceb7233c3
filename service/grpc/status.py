"""gRPC status codes for the service's errors, derived from the one HTTP table in core/errors.py.

Deriving (the usual HTTP <-> gRPC correspondence) instead of keeping a second
table means a new error class gets both codes from one entry.
"""

from __future__ import annotations

import grpc

from ..core.errors import NotSupported, ServiceError, retry_after_seconds, status_code_for

_BY_HTTP_STATUS: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def grpc_code_for(exc: ServiceError) -> grpc.StatusCode:
    if isinstance(exc, NotSupported):  # HTTP has no 4xx for it; gRPC does
        return grpc.StatusCode.UNIMPLEMENTED
    return _BY_HTTP_STATUS.get(status_code_for(exc), grpc.StatusCode.INTERNAL)


def trailing_metadata(exc: ServiceError) -> tuple[tuple[str, str], ...]:
    """HTTP's Retry-After, as trailing metadata (the key gRPC's retry policies know)."""
    value = retry_after_seconds(exc)
    return () if value is None else (("retry-after", value),)
