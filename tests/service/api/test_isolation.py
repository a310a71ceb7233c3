"""Mixed traffic in one batch: a bad request fails alone, with only its own values in its error."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.core.settings import Settings
from tests.tiny_models import EMBEDDING


@pytest.fixture
def mixed(mixed_repo) -> TestClient:
    with TestClient(create_app(Settings(repository=mixed_repo)), raise_server_exceptions=False) as client:
        yield client


def tokens_body(ids: list[int]) -> dict:
    return {"inputs": [{"name": "tokens", "shape": [1, len(ids)], "datatype": "INT64", "data": ids}]}


def counter(client: TestClient, name: str, model: str) -> float:
    """Sum of a counter's samples for one model (any suffix or extra labels)."""
    text = client.get("/metrics").text
    pattern = rf'^{name}(?:_total)?\{{[^}}]*model="{model}"[^}}]*\}} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, text, flags=re.MULTILINE))


def send_all(client: TestClient, model: str, bodies: list[dict]) -> list:
    # Threads through one in-process app: requests arrive together and share batches.
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda b: client.post(f"/v2/models/{model}/infer", json=b), bodies))


def test_an_id_past_the_table_fails_only_its_own_request(mixed):
    valid = [[1 + i % 9] * (1 + i % 5) for i in range(30)]
    bad = {7: [3, 77777], 19: [99999, 1]}
    bodies = [tokens_body(bad.get(i, ids)) for i, ids in enumerate(valid)]
    answers = send_all(mixed, "embed", bodies)
    for i, answer in enumerate(answers):
        if i in bad:
            assert answer.status_code == 400, answer.text
            error = answer.json()["error"]
            own, other = (77777, 99999) if i == 7 else (99999, 77777)
            assert f"idx={own}" in error and str(other) not in error
            assert error.startswith("model 'embed' rejected the input: ")
        else:
            assert answer.status_code == 200, answer.text
            expected = EMBEDDING[valid[i]].sum(axis=0)
            assert answer.json()["outputs"][0]["data"] == expected.tolist()
    assert counter(mixed, "nv_inference_request_success", "embed") == 28
    assert counter(mixed, "nv_inference_request_failure", "embed") == 2


def test_a_declared_id_range_refuses_the_bad_id_before_it_is_queued(mixed):
    answer = mixed.post("/v2/models/embed_checked/infer", json=tokens_body([3, 99999, -4]))
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "model 'embed_checked', input 'tokens': value 99999 at index [0, 1] is outside value_range [0, 9]"
    }
    assert counter(mixed, "nv_inference_exec_count", "embed_checked") == 0  # never ran


def test_an_unknown_output_is_refused_before_the_model_runs(mixed):
    body = {**tokens_body([1, 2]), "outputs": [{"name": "nope"}]}
    answer = mixed.post("/v2/models/embed/infer", json=body)
    assert answer.status_code == 400
    assert answer.json() == {"error": "model 'embed': unknown output(s) ['nope']; expected some of ['sum']"}
    assert counter(mixed, "nv_inference_exec_count", "embed") == 0
    assert counter(mixed, "nv_inference_request_success", "embed") == 0
    assert counter(mixed, "nv_inference_request_failure", "embed") == 1


def test_bytes_reach_the_model_as_text_and_come_back_exact(mixed):
    words = ["a", "ü", "日本語", "", "naïve café"]
    body = {"inputs": [{"name": "text", "shape": [1, len(words)], "datatype": "BYTES", "data": words}]}
    answer = mixed.post("/v2/models/text/infer", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == words


def test_bytes_that_are_not_utf8_are_refused(mixed):
    from service.protocol.binary import HEADER

    header = b'{"inputs":[{"name":"text","shape":[1,1],"datatype":"BYTES","parameters":{"binary_data_size":6}}]}'
    body = header + np.uint32(2).tobytes() + b"\xff\xfe"
    answer = mixed.post("/v2/models/text/infer", content=body, headers={HEADER: str(len(header))})
    assert answer.status_code == 400
    assert answer.json() == {"error": "model 'text', input 'text': BYTES element 0 is not valid UTF-8 text"}


def test_a_bad_timeout_is_refused_when_the_body_is_parsed(mixed):
    # A malformed parameter is the body's form, refused with the rest of it at the edge,
    # before any model is looked up: like a malformed tensor, it is no model's failure.
    body = {**tokens_body([1, 2]), "parameters": {"timeout": -1}}
    answer = mixed.post("/v2/models/embed/infer", json=body)
    assert answer.status_code == 400
    assert answer.json() == {"error": "parameter 'timeout' must be a positive number of microseconds, got -1"}
    assert counter(mixed, "nv_inference_exec_count", "embed") == 0
    assert counter(mixed, "nv_inference_request_failure", "embed") == 0
