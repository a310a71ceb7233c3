from __future__ import annotations

import numpy as np
import pytest

from models.encoding import MultiHotEncoder, one_hot
from tests.service.friendly_models import add_friendly_models

LABELS = ["en", "fr", "de", "ru"]  # txt_attn's labels


@pytest.fixture
def client(make_client, tiny_repo):
    add_friendly_models(tiny_repo)
    return make_client()


def encode(client, mode: str, **body):
    return client.post(f"/v2/encoding/{mode}/encode", json=body)


def decode(client, mode: str, **body):
    return client.post(f"/v2/encoding/{mode}/decode", json=body)


def test_multi_hot_from_a_model_equals_the_training_encoder(client):
    sets = [["ru", "de"], ["en"], []]
    response = encode(client, "multi-hot", model="txt_attn", labels=sets)
    assert response.status_code == 200, response.text
    body = response.json()
    np.testing.assert_array_equal(body["vectors"], MultiHotEncoder(LABELS).encode_batch(sets))
    assert body["vocabulary"] == LABELS and body["size"] == 4 and body["ignored"] == []


def test_one_hot_with_a_given_vocabulary_equals_the_training_code(client):
    vocab = ["cat", "dog", "bird"]
    body = encode(client, "one-hot", vocabulary=vocab, labels=["bird", "cat", "bird"]).json()
    np.testing.assert_array_equal(body["vectors"], one_hot([2, 0, 2], 3))
    assert body["vocabulary"] == vocab and body["indices"] is None  # one shape, whatever the source


def test_single_items_answer_a_batch_of_one(client):
    assert encode(client, "one-hot", vocabulary=["a", "b"], labels="b").json() == {
        "mode": "one-hot", "format": "dense", "size": 2, "vectors": [[0.0, 1.0]], "indices": None,
        "ignored": [], "vocabulary": ["a", "b"]}
    assert encode(client, "multi-hot", model="txt_attn", labels=["fr", "en"]).json()["vectors"] == [[1, 1, 0, 0]]
    sparse = encode(client, "multi-hot", model="txt_attn", labels=["ru", "fr"], format="sparse").json()
    assert sparse["indices"] == [[1, 3]] and sparse["vectors"] is None
    assert decode(client, "multi-hot", vocabulary=["a", "b"], indices=[1]).json() == {
        "mode": "multi-hot", "labels": [["b"]]}


def test_an_all_zero_one_hot_vector_decodes_to_no_label_not_null(client):
    body = decode(client, "one-hot", vocabulary=["a", "b"], vectors=[[0.0, 0.0], [0.0, 1.0]]).json()
    assert body == {"mode": "one-hot", "labels": [[], ["b"]]}
    assert decode(client, "one-hot", vocabulary=["a", "b"], vectors=[0.0, 0.0]).json()["labels"] == [[]]


@pytest.mark.parametrize("fmt", ["dense", "sparse"])
def test_round_trip(client, fmt):
    sets = [["fr", "ru"], ["en"], ["de", "en", "fr"]]
    encoded = encode(client, "multi-hot", model="txt_attn", labels=sets, format=fmt).json()
    key = "vectors" if fmt == "dense" else "indices"
    decoded = decode(client, "multi-hot", model="txt_attn", **{key: encoded[key]}).json()
    assert [sorted(x) for x in decoded["labels"]] == [sorted(x) for x in sets]
    one = encode(client, "one-hot", model="txt_attn", labels=["de", "en"], format=fmt).json()
    assert decode(client, "one-hot", model="txt_attn", **{key: one[key]}).json()["labels"] == [["de"], ["en"]]


def test_multi_hot_decode_uses_the_threshold_like_the_training_code(client):
    scores = [[0.9, 0.3, 0.5, 0.49], [0.1, 0.2, 0.3, 0.4]]
    for threshold in (0.5, 0.25):
        got = decode(client, "multi-hot", model="txt_attn", vectors=scores, threshold=threshold).json()["labels"]
        assert got == [MultiHotEncoder(LABELS).decode(row, threshold) for row in scores]
    single = decode(client, "one-hot", vocabulary=["a", "b"], vectors=[0.2, 0.7]).json()
    assert single == {"mode": "one-hot", "labels": [["b"]]}


def test_unknown_labels_can_be_ignored(client):
    body = encode(client, "multi-hot", model="txt_attn", labels=[["en", "xx"], ["yy"]], unknown="ignore").json()
    assert body["vectors"] == [[1, 0, 0, 0], [0, 0, 0, 0]] and body["ignored"] == ["xx", "yy"]


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("multi-hot/encode", {"model": "txt_attn", "labels": [["en", "xx", "zz"]]}, 422,
         "unknown label(s) ['xx', 'zz'] not in the labels of model 'txt_attn' of 4 labels; "
         "allowed: ['en', 'fr', 'de', 'ru'] (set unknown='ignore' to drop unknown labels)"),
        ("one-hot/encode", {"vocabulary": [f"w{i}" for i in range(50)], "labels": ["w1", "x"]}, 422,
         "unknown label(s) ['x'] not in the request's vocabulary of 50 labels; allowed: ['w0', 'w1'"),
        ("one-hot/encode", {"model": "nope", "labels": ["a"]}, 404, "unknown model 'nope'"),
        ("one-hot/encode", {"model": "seq_cls", "vocabulary": ["a"], "labels": ["a"]}, 422,
         "body: Value error, send exactly one of 'model' (use its labels) or 'vocabulary'"),
        ("one-hot/encode", {"model": "img_ae", "labels": ["a"]}, 422,
         "model 'img_ae' declares no labels; send a 'vocabulary' instead"),
        ("one-hot/encode", {"vocabulary": ["a", "b", "a"], "labels": ["a"]}, 422,
         "request's vocabulary: vocabulary entries must be unique, repeated: ['a']"),
        ("one-hot/encode", {"vocabulary": ["a", "b"], "labels": [["a", "b"]]}, 422,
         "labels: one-hot takes one label per item (a string or a list of strings)"),
        ("multi-hot/encode", {"vocabulary": ["a", "b"], "labels": "a"}, 422,
         "labels: multi-hot takes a list of labels per item, received a string"),
        ("multi-hot/decode", {"model": "txt_attn", "vectors": [[1, 0, 0]]}, 422,
         "vectors[0]: expected 4 values (the vocabulary size), received 3"),
        ("multi-hot/decode", {"model": "txt_attn", "indices": [[0, 4]]}, 422,
         "indices[0]: [4] outside the vocabulary of 4 labels (0..3)"),
        ("multi-hot/decode", {"model": "txt_attn"}, 422,
         "body: Value error, send exactly one of 'vectors' (dense) or 'indices' (sparse)"),
        ("two-hot/encode", {"model": "txt_attn", "labels": ["en"]}, 422,
         "path.mode: Input should be 'one-hot' or 'multi-hot'"),
    ],
)
def test_errors_name_the_problem(client, path, body, status, error):
    response = client.post(f"/v2/encoding/{path}", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"].startswith(error)


def test_nan_vectors_are_refused(client):
    raw = b'{"model": "txt_attn", "vectors": [NaN, 0, 0, 1]}'
    response = client.post("/v2/encoding/multi-hot/decode", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"] == "vectors[0]: NaN or Inf values are not allowed"


def test_too_many_items_is_413(make_client, tiny_repo):
    client = make_client(max_items_per_request=2)
    response = encode(client, "one-hot", vocabulary=["a"], labels=["a", "a", "a"])
    assert response.status_code == 413
    assert response.json()["error"] == "3 items exceed the limit of 2"


def test_reference_langid_vocabulary_matches_the_training_encoder():
    """Against the trained model's own label list, when it has been published."""
    import json
    import os
    from pathlib import Path

    from service.core.settings import DEFAULT_REPOSITORY
    from service.friendly import onehot

    root = Path(os.environ.get("ORTSERVE_REFERENCE_REPOSITORY", DEFAULT_REPOSITORY))
    path = root / "langid_transformer" / "config.json"
    if not path.exists():
        pytest.skip(f"langid_transformer is not in {root} yet")
    labels = json.loads(path.read_text(encoding="utf-8"))["labels"]
    sets = [labels[:2], labels[-1:], labels[3:7]]
    encoded = onehot.encode(onehot.Vocabulary(labels), sets, multi=True).dense(len(labels))
    np.testing.assert_array_equal(encoded, MultiHotEncoder(labels).encode_batch(sets))
