"""The response models in /docs describe what the friendly endpoints really answer."""

from __future__ import annotations

import numpy as np
import pytest

from service.api.schemas import AttentionResponse, DecodeResponse, EncodeResponse, PredictResponse
from tests.service.friendly_models import add_friendly_models


@pytest.fixture
def client(make_client, tiny_repo):
    add_friendly_models(tiny_repo)
    return make_client()


@pytest.mark.parametrize("model, body", [
    ("img_cls", {"images": [np.zeros((8, 8)).tolist()]}),
    ("img_ae", {"images": [np.zeros((8, 8)).tolist()], "format": "json"}),
    ("seq_cls", {"frames": [[0.1] * 12, [0.2] * 12]}),
    ("txt_attn", {"text": ["hello", "bonjour"], "threshold": 0.3}),
])
def test_predict_answers_match_the_documented_model(client, model, body):
    response = client.post(f"/v2/models/{model}/predict", json=body)
    assert response.status_code == 200, response.text
    parsed = PredictResponse.model_validate(response.json())
    assert parsed.model_dump(exclude_unset=True) == response.json()


def test_attention_answer_matches_the_documented_model(client):
    response = client.post("/v2/models/txt_attn/attention", json={"text": "hello"})
    assert response.status_code == 200, response.text
    parsed = AttentionResponse.model_validate(response.json())
    assert parsed.tokens == response.json()["tokens"] and parsed.bertviz is not None


def test_encoding_answers_are_their_models(client):
    encoded = client.post("/v2/encoding/one-hot/encode", json={"vocabulary": ["a", "b"], "labels": "a"}).json()
    assert EncodeResponse.model_validate(encoded).vectors == [[1.0, 0.0]]
    decoded = client.post("/v2/encoding/one-hot/decode", json={"vocabulary": ["a", "b"], "vectors": [1, 0]}).json()
    assert DecodeResponse.model_validate(decoded).labels == [["a"]]


def test_openapi_documents_every_friendly_response(client):
    spec = client.get("/openapi.json").json()
    refs = {
        path: spec["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        for path in ("/v2/models/{model_name}/predict", "/v2/models/{model_name}/versions/{model_version}/predict",
                     "/v2/models/{model_name}/attention", "/v2/encoding/{mode}/encode", "/v2/encoding/{mode}/decode")
    }
    assert {ref.rsplit("/", 1)[1] for ref in refs.values()} == {
        "PredictResponse", "AttentionResponse", "EncodeResponse", "DecodeResponse"}
    predict = spec["paths"]["/v2/models/{model_name}/predict"]["post"]["responses"]
    assert "image/png" in predict["200"]["content"] and "415" in predict
    assert "timeout_s" in spec["components"]["schemas"]["AttentionRequest"]["properties"]
