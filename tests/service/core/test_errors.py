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
        (errors.UnsupportedMediaType("x"), 415),
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


@pytest.mark.parametrize(
    "exc, status",
    [
        (errors.ClientDisconnected(), 499),
        (errors.ConfigError("x"), 503),
        (errors.ProviderError("x"), 503),
    ],
)
def test_disconnects_and_broken_models_are_not_client_errors(exc, status):
    assert errors.status_code_for(exc) == status
    assert not isinstance(exc, errors.ClientError)


def test_a_broken_model_is_an_unavailable_model():
    assert isinstance(errors.ConfigError("x"), errors.ModelUnavailable)
    assert isinstance(errors.ProviderError("x"), errors.ModelUnavailable)


def test_every_exception_of_the_service_lives_in_errors_py():
    import importlib
    import pkgutil

    import service

    for info in pkgutil.walk_packages(service.__path__, "service."):
        if info.name != "service.__main__":
            importlib.import_module(info.name)
    defined: list[str] = []
    stack: list[type[BaseException]] = [Exception]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("service.") and cls.__module__ != "service.core.errors":
            defined.append(f"{cls.__module__}.{cls.__qualname__}")
    assert defined == []
    unmapped = [name for name, cls in vars(errors).items()
                if isinstance(cls, type) and issubclass(cls, errors.ServiceError) and cls not in errors.STATUS_CODES]
    assert unmapped == []


def test_a_reason_drops_the_subject_it_begins_with():
    assert errors.ConfigError("model 'm': invalid config.json: x").reason("m") == "invalid config.json: x"
    versioned = errors.ServiceError("missing model.onnx", model="m", version=2)
    assert versioned.reason("m", 2) == "missing model.onnx"
    assert versioned.reason("m") == "model 'm' version 2: missing model.onnx"  # the version is not named beside it
    assert errors.ServiceError("bad", model="other").reason("m") == "model 'other': bad"  # another model keeps its name
    assert errors.ServiceError("no model named here").reason("m") == "no model named here"
