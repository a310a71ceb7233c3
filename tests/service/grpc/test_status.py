from __future__ import annotations

import grpc
import pytest

from service.core import errors
from service.grpc.status import grpc_code_for, trailing_metadata


@pytest.mark.parametrize(("error", "code"), [
    (errors.InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.Unprocessable, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.Unauthorized, grpc.StatusCode.UNAUTHENTICATED),
    (errors.Forbidden, grpc.StatusCode.PERMISSION_DENIED),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.PayloadTooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Overloaded, grpc.StatusCode.UNAVAILABLE),
    (errors.ModelUnavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.ShuttingDown, grpc.StatusCode.UNAVAILABLE),
    (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (errors.ModelExecutionError, grpc.StatusCode.INTERNAL),
])
def test_each_error_class_has_its_grpc_code(error, code):
    assert grpc_code_for(error("x")) is code


def test_retry_after_travels_as_trailing_metadata():
    assert trailing_metadata(errors.Overloaded("full")) == (("retry-after", "1"),)
    assert trailing_metadata(errors.ModelUnavailable("loading")) == (("retry-after", "5"),)
    assert trailing_metadata(errors.InvalidInput("bad")) == ()
