from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from service.friendly import heatmap
from tests.service.friendly_models import add_friendly_models


@pytest.fixture
def client(make_client, tiny_repo):
    add_friendly_models(tiny_repo)
    return make_client()


def attention(client, model: str = "txt_attn", **body):
    return client.post(f"/v2/models/{model}/attention", json=body)


def independent_rollout(attentions: list) -> np.ndarray:
    """Abnar & Zuidema (2020) from the returned matrices: A_hat = 0.5 mean_h(A) + 0.5 I, rows
    renormalised, rollout = A_hat_L @ ... @ A_hat_1."""
    layers = [np.array(layer, dtype=np.float64) for layer in attentions]
    size = layers[0].shape[-1]
    result = np.identity(size)
    for heads in layers:
        mean = heads.sum(axis=0) / heads.shape[0]
        hat = 0.5 * mean + 0.5 * np.identity(size)
        hat = hat / hat.sum(axis=1, keepdims=True)
        result = hat @ result
    return result


def test_tokens_include_specials_and_label_every_row(client):
    body = attention(client, text="ab? e").json()
    assert body["tokens"] == ["<cls>", "a", "b", "<unk>", " ", "e"]
    assert body["ids"] == [2, 3, 4, 1, 8, 7]
    assert body["shape"] == [2, 2, 6, 6] and body["layers"] == [0, 1] and body["heads"] == [0, 1]
    assert np.array(body["attentions"]).shape == (2, 2, 6, 6)


def test_every_attention_row_sums_to_one(client):
    body = attention(client, text="abcde dcba").json()
    np.testing.assert_allclose(np.array(body["attentions"]).sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.array(body["rollout"]).sum(axis=-1), 1.0, atol=1e-5)


def test_rollout_matches_an_independent_computation(client):
    body = attention(client, text="bad cab").json()
    np.testing.assert_allclose(body["rollout"], independent_rollout(body["attentions"]), atol=1e-5)


def test_filter_layers_and_heads_and_average(client):
    full = np.array(attention(client, text="abc").json()["attentions"])
    picked = attention(client, text="abc", layers=[1], heads=[1]).json()
    assert picked["layers"] == [1] and picked["heads"] == [1]
    np.testing.assert_allclose(picked["attentions"], full[[1]][:, [1]], atol=1e-7)
    mean = attention(client, text="abc", average_heads=True).json()
    assert mean["heads"] == ["mean"] and mean["shape"] == [2, 1, 4, 4]
    np.testing.assert_allclose(np.array(mean["attentions"])[:, 0], full.mean(axis=1), atol=1e-6)


def test_bertviz_block_is_one_batch_of_one_per_layer(client):
    body = attention(client, text="abcd").json()
    bertviz = body["bertviz"]
    assert bertviz["tokens"] == body["tokens"]
    assert [np.array(layer).shape for layer in bertviz["attention"]] == [(1, 2, 5, 5)] * 2
    np.testing.assert_allclose(np.array(bertviz["attention"])[:, 0], body["attentions"], atol=1e-7)
    assert "bertviz" not in attention(client, text="abcd", bertviz=False).json()


def test_prediction_is_the_same_as_predict(client):
    body = attention(client, text="dead", top_k=2).json()
    predicted = client.post("/v2/models/txt_attn/predict", json={"text": "dead", "top_k": 2}).json()
    expected = predicted["predictions"][0]
    expected.pop("truncated")
    assert body["prediction"] == expected


def test_long_text_is_cut_to_the_model_maximum(client):
    body = attention(client, text="abcde" * 10).json()
    assert body["truncated"] is True and len(body["tokens"]) == 16 == body["max_length"]


@pytest.mark.parametrize("view", ["head", "mean", "rollout"])
def test_png_heatmap_decodes_with_the_expected_size(client, view):
    response = attention(client, text="abc ed", format="png", view=view, layer=1, head=1)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.size == heatmap.size_for(7)


def test_versioned_route(client):
    response = client.post("/v2/models/txt_attn/versions/1/attention", json={"text": "ab"})
    assert response.status_code == 200 and response.json()["model_version"] == "1"


@pytest.mark.parametrize(
    ("model", "body", "status", "error"),
    [
        ("img_cls", {"text": "abc"}, 422,
         "model 'img_cls' has no attention output; declare postprocessing.attention_output"),
        ("txt_attn", {"text": ""}, 422, "text: empty string; expected at least 1 character"),
        ("txt_attn", {"text": "abc", "layers": [2]}, 422, "layers: [2] out of range; the model has 2 (layers 0..1)"),
        ("txt_attn", {"text": "abc", "heads": [0, 5]}, 422, "heads: [5] out of range; the model has 2 (heads 0..1)"),
        ("txt_attn", {"text": "abc", "format": "png", "view": "head", "layer": 3}, 422,
         "layer: 3 out of range; the model has 2 layers (0..1)"),
        ("txt_attn", {"text": "abc", "view": "sideways"}, 422, "view: Input should be 'head', 'mean' or 'rollout'"),
        ("txt_attn", {"txt": "abc"}, 422, "text: Field required"),
        ("nope", {"text": "abc"}, 404, "unknown model 'nope'"),
    ],
)
def test_errors_name_the_problem(client, model, body, status, error):
    response = attention(client, model, **body)
    assert response.status_code == status, response.text
    assert response.json()["error"].startswith(error)


def test_response_size_is_bounded(make_client, tiny_repo):
    add_friendly_models(tiny_repo)
    client = make_client(max_attention_elements=100)
    response = attention(client, text="abcd")  # 2 layers x 2 heads x 5 x 5 x 2 copies = 200
    assert response.status_code == 413
    assert response.json()["error"].startswith(
        "attention response of 2 layers x 2 heads x 5x5 tokens x 2 copies = 200 values exceeds the limit of 100"
    )
    smaller = attention(client, text="abcd", layers=[0], average_heads=True, bertviz=False)
    assert smaller.status_code == 200


def test_text_over_the_service_limit_is_413(make_client, tiny_repo):
    add_friendly_models(tiny_repo)
    client = make_client(max_text_length=8)
    response = attention(client, text="a" * 9)
    assert response.status_code == 413
    assert response.json()["error"] == "text: 9 characters exceed the limit of 8"
