from __future__ import annotations

import pytest

from service.core import errors


@pytest.mark.parametrize(
    "exc, status",
    [
        (errors.InvalidInput("x"), 400),
        (errors.Unauthorized("x"), 401),
        (errors.Forbidden("x"), 403),
        (errors.NotFound("x"), 404),
        (errors.PayloadTooLarge("x"), 413),
        (errors.Unprocessable("x"), 422),
        (errors.Overloaded("x"), 503),
        (errors.ModelUnavailable("x"), 503),
        (errors.ShuttingDown("x"), 503),
        (errors.DeadlineExceeded("x"), 504),
        (errors.ModelExecutionError("x"), 500),
    ],
)
def test_status_table(exc, status):
    assert errors.status_code_for(exc) == status


def test_subclasses_inherit_their_parents_status():
    class Custom(errors.NotFound):
        pass

    assert errors.status_code_for(Custom("x")) == 404


def test_overload_carries_retry_after():
    assert errors.Overloaded("busy").retry_after == 1.0
    assert errors.Overloaded("busy", retry_after=3).retry_after == 3
