"""/friendly, /samples and /preprocess on the tiny friendly models (in process)."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from service.friendly.samples import vowels
from tests.service.friendly_models import add_friendly_models
from tests.service.pictures import png, stroke


@pytest.fixture
def client(make_client, tiny_repo):
    add_friendly_models(tiny_repo)
    return make_client()


def b64(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def test_friendly_describes_each_kind(client):
    image = client.get("/v2/models/img_cls/friendly").json()
    assert image["kind"] == "image" and image["version"] == "1"
    assert image["input"] | {"name": "image", "height": 8, "width": 8, "channels": 1} == image["input"]
    assert image["output"] == {"type": "labels", "name": "probabilities", "labels": ["zero", "one", "two"],
                               "multi_label": False, "top_k": 2, "threshold": None}
    assert client.get("/v2/models/img_ae/friendly").json()["output"] == {
        "type": "image", "name": "reconstruction", "value_range": [0.0, 1.0]}
    text = client.get("/v2/models/txt_attn/friendly").json()
    assert (text["kind"], text["attention_output"], text["output"]["multi_label"]) == ("text", "attentions", True)
    sequence = client.get("/v2/models/seq_cls/friendly").json()
    assert sequence["samples"] == {"name": "japanese_vowels_test", "count": len(vowels().items)}
    raw = client.get("/v2/models/affine/friendly").json()
    assert (raw["kind"], raw["input"], raw["samples"]) == (None, None, None)


def test_friendly_of_an_unknown_model_is_404(client):
    response = client.get("/v2/models/nope/friendly")
    assert response.status_code == 404 and "nope" in response.json()["error"]


def test_samples_fit_the_model_and_name_their_source(client):
    answer = client.get("/v2/models/seq_cls/samples").json()
    assert answer["licence"] == "CC BY 4.0" and "JapaneseVowels_TEST" in answer["source"]
    assert all(len(frame) == 12 for item in answer["items"] for frame in item["frames"])
    none = client.get("/v2/models/img_cls/samples").json()
    assert none["items"] == [] and "12-channel" in none["reason"]


def test_preprocess_gives_the_tensor_predict_uses(client):
    upload = png(stroke())
    pre = client.post("/v2/models/img_cls/preprocess", json={"image_b64": b64(upload)}).json()
    (tensor,) = pre["inputs"]
    assert (tensor["name"], tensor["shape"], tensor["datatype"]) == ("image", [1, 1, 8, 8], "FP32")
    assert pre["outputs"] == [{"name": "probabilities"}] and pre["inverted"] is False
    # The tensors are a valid /infer body, and give what /predict answers for the same upload.
    infer = client.post("/v2/models/img_cls/infer", json={"inputs": pre["inputs"], "outputs": pre["outputs"]}).json()
    predict = client.post("/v2/models/img_cls/predict", json={"images_b64": [b64(upload)]}).json()
    np.testing.assert_allclose(infer["outputs"][0]["data"],
                               list(predict["predictions"][0]["probabilities"].values()), rtol=1e-6)


def test_preprocess_reports_an_inverted_upload(client):
    pre = client.post("/v2/models/img_cls/preprocess", json={"image_b64": b64(png(255 - stroke()))}).json()
    assert pre["inverted"] is True


def test_preprocess_text_gives_tokens_and_mask(client):
    pre = client.post("/v2/models/txt_attn/preprocess", json={"text": "abc"}).json()
    tokens, mask = pre["inputs"]
    assert pre["tokens"] == ["<cls>", "a", "b", "c"] and pre["truncated"] is False
    assert tokens == {"name": "tokens", "shape": [1, 4], "datatype": "INT64", "data": [2, 3, 4, 5]}
    assert mask == {"name": "mask", "shape": [1, 4], "datatype": "INT64", "data": [1, 1, 1, 1]}


def test_preprocess_frames_gives_frames_and_lengths(client):
    frames = [[0.5] * 12, [1.5] * 12, [2.5] * 12]
    frames_tensor, lengths = client.post("/v2/models/seq_cls/preprocess", json={"frames": frames}).json()["inputs"]
    assert frames_tensor["shape"] == [1, 3, 12] and frames_tensor["data"][:2] == [0.5, 0.5]
    assert lengths == {"name": "lengths", "shape": [1], "datatype": "INT64", "data": [3]}


def test_preprocess_refuses_the_wrong_field_naming_the_right_one(client):
    response = client.post("/v2/models/img_cls/preprocess", json={"text": "abc"})
    assert response.status_code == 422
    assert response.json()["error"] == "model 'img_cls' takes image input: send 'image_b64'; received 'text'"


def test_preprocess_needs_exactly_one_field(client):
    response = client.post("/v2/models/img_cls/preprocess", json={"text": "a", "frames": [[1.0] * 12]})
    assert response.status_code == 422 and "send exactly one of" in response.json()["error"]


def test_preprocess_without_preprocessing_is_422(client):
    response = client.post("/v2/models/affine/preprocess", json={"text": "a"})
    assert response.status_code == 422 and "declares no friendly preprocessing" in response.json()["error"]


def test_preprocess_bad_image_is_400_naming_the_field(client):
    response = client.post("/v2/models/img_cls/preprocess", json={"image_b64": b64(b"not a png")})
    assert response.status_code == 400 and response.json()["error"].startswith("image_b64:")


def test_these_endpoints_obey_the_api_key(make_client, tiny_repo):
    add_friendly_models(tiny_repo)
    client = make_client(api_key="s3cret")
    for method, path, body in (("GET", "/v2/models/img_cls/friendly", None), ("GET", "/v2/models/seq_cls/samples", None),
                               ("POST", "/v2/models/txt_attn/preprocess", {"text": "ab"})):
        assert client.request(method, path, json=body).status_code == 401
        assert client.request(method, path, json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
