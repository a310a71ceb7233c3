"""Every HTTP error answer (api/errors.py): status, body, Retry-After, and what gets logged."""

from __future__ import annotations

import logging

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from service.api.errors import error_answer, error_body, install_handlers, retry_after, unexpected_answer
from service.core.errors import (
    ClientDisconnected,
    ConfigError,
    DeadlineExceeded,
    Forbidden,
    InvalidInput,
    ModelExecutionError,
    ModelUnavailable,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    ProviderError,
    ServiceError,
    ShuttingDown,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)

LOGGER = "service.api"


def test_the_error_body_is_one_json_object():
    assert error_body('bad "x"\n') == b'{"error":"bad \\"x\\"\\n"}'


@pytest.mark.parametrize("exc, status, retry", [
    (InvalidInput("m"), 400, None),
    (Unauthorized("m"), 401, None),
    (Forbidden("m"), 403, None),
    (NotFound("m"), 404, None),
    (PayloadTooLarge("m"), 413, None),
    (UnsupportedMediaType("m"), 415, None),
    (Unprocessable("m"), 422, None),
    (ClientDisconnected(), 499, None),
    (Overloaded("m"), 503, b"1"),
    (ModelUnavailable("m"), 503, b"5"),
    (ConfigError("m"), 503, b"5"),
    (ProviderError("m"), 503, b"5"),
    (ShuttingDown("m"), 503, b"5"),
    (DeadlineExceeded("m"), 504, None),
    (ModelExecutionError("m"), 500, None),
    (ServiceError("m"), 500, None),
])
def test_error_answer_status_body_and_retry_after(exc, status, retry):
    answer_status, body, headers = error_answer(exc)
    assert answer_status == status
    assert orjson.loads(body) == {"error": exc.message}
    assert headers == ([] if retry is None else [(b"retry-after", retry)])


@pytest.mark.parametrize("seconds, header", [(0.2, b"1"), (1.4, b"1"), (2.6, b"3"), (30, b"30")])
def test_retry_after_is_whole_seconds_and_at_least_one(seconds, header):
    assert retry_after(Overloaded("busy", retry_after=seconds)) == [(b"retry-after", header)]
    assert retry_after(ShuttingDown("busy", retry_after=seconds)) == [(b"retry-after", header)]


def test_the_body_carries_the_errors_whole_message():
    exc = InvalidInput("expected shape [-1, 4], got [1, 2]", model="affine", version=2, input="x")
    _, body, _ = error_answer(exc)
    assert body == b'{"error":"model \'affine\' version 2, input \'x\': expected shape [-1, 4], got [1, 2]"}'


def test_server_faults_are_logged_with_the_model_and_version(caplog):
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        error_answer(ModelExecutionError("ORT failed", model="affine", version=1))
    (record,) = [r for r in caplog.records if r.name == LOGGER]
    assert (record.levelname, record.getMessage()) == ("ERROR", "request failed")
    assert (record.error, record.model, record.version) == ("model 'affine' version 1: ORT failed", "affine", "1")


@pytest.mark.parametrize("exc", [
    Overloaded("m"), ModelUnavailable("m"), ShuttingDown("m"), DeadlineExceeded("m"),
    InvalidInput("m"), NotFound("m"), ClientDisconnected(),
])
def test_unavailability_timeouts_and_client_errors_are_not_logged(caplog, exc):
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        error_answer(exc)
    assert [r for r in caplog.records if r.name == LOGGER] == []


def test_unexpected_answer_gives_the_request_id_and_logs_the_traceback(caplog):
    scope = {"type": "http", "state": {"request_id": "req-42"}}
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        try:
            raise KeyError("/secret/path/model.onnx")
        except KeyError:
            body = unexpected_answer(scope)
    assert body == b'{"error":"internal server error (request id req-42)"}'
    (record,) = [r for r in caplog.records if r.name == LOGGER]
    assert (record.levelname, record.getMessage()) == ("ERROR", "unhandled error")
    assert record.exc_info is not None and record.exc_info[0] is KeyError


def test_unexpected_answer_without_a_request_id():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        assert unexpected_answer({"type": "http"}) == b'{"error":"internal server error (request id )"}'


class Item(BaseModel):
    count: int


@pytest.fixture
def client():
    app = FastAPI()
    install_handlers(app)

    @app.get("/busy")
    async def busy() -> None:
        raise Overloaded("queue full")

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("/secret/path")

    @app.post("/items")
    async def items(item: Item) -> int:
        return item.count

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_fastapi_routes_answer_service_errors_the_same_way(client):
    r = client.get("/busy")
    assert (r.status_code, r.json()) == (503, {"error": "queue full"})
    assert r.headers["retry-after"] == "1"
    assert r.headers["content-type"] == "application/json"


def test_validation_errors_name_the_field_and_the_value(client):
    r = client.post("/items", json={"count": "many"})
    assert r.status_code == 422
    assert r.json() == {
        "error": "count: Input should be a valid integer, unable to parse string as an integer (got 'many')",
    }


def test_an_unknown_route_names_the_method_and_path(client):
    r = client.get("/nowhere")
    assert (r.status_code, r.json()) == (404, {"error": "no route for GET /nowhere"})


def test_an_unexpected_exception_is_a_500_without_details(client, caplog):
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        r = client.get("/crash")
    assert (r.status_code, r.json()) == (500, {"error": "internal server error (request id )"})
    assert "/secret/path" not in r.text and "Traceback" not in r.text
    assert any(rec.name == LOGGER and rec.exc_info for rec in caplog.records)
