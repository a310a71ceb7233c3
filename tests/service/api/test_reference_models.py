"""The friendly endpoints on the trained reference models in models/repository.

Each test runs for whichever published model fits it (found by its config's
preprocessing/postprocessing, never by name) and is skipped when none is there yet.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from models.data_images import area_resize as training_area_resize
from models.encoding import CharVocab
from service.api.app import create_app
from service.core.settings import DEFAULT_REPOSITORY, Settings
from tests.service.pictures import png

pytestmark = pytest.mark.slow
# Another published repository can be checked the same way (e.g. one trained to a scratch folder).
REPOSITORY = Path(os.environ.get("ORTSERVE_REFERENCE_REPOSITORY", DEFAULT_REPOSITORY))


def configs() -> dict[str, dict]:
    found = {}
    for path in sorted(REPOSITORY.glob("*/config.json")):
        if any(path.parent.glob("*/model.onnx")):
            found[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
    return found


def models_where(test) -> list[str]:
    names = [name for name, config in configs().items() if test(config)]
    return names or [pytest.param(None, marks=pytest.mark.skip(reason="no such model in models/repository yet"))]


CLASSIFIERS = models_where(lambda c: c.get("preprocessing", {}).get("type") == "image"
                           and c.get("postprocessing", {}).get("type") != "image")
IMAGE_OUT = models_where(lambda c: c.get("postprocessing", {}).get("type") == "image")
SEQUENCES = models_where(lambda c: c.get("preprocessing", {}).get("type") == "sequence")
TEXTS = models_where(lambda c: c.get("preprocessing", {}).get("type") == "chars")


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(repository=REPOSITORY)), raise_server_exceptions=False) as c:
        yield c


def digits(n: int = 12):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Rebuild 32x32 bitmaps like the originals (each 0..16 count spread over a 4x4 block), as 8-bit PNGs.
    big = np.round(bunch.images[:n] / 16.0 * 255).astype(np.uint8).repeat(4, axis=1).repeat(4, axis=2)
    return big, bunch.target[:n]



@pytest.mark.parametrize("model", CLASSIFIERS)
def test_digit_upload_equals_the_tensor_path_and_is_right(client, model):
    images, labels = digits()
    files = [("file", (f"{i}.png", png(im), "image/png")) for i, im in enumerate(images)]
    answers = client.post(f"/v2/models/{model}/predict", files=files).json()["predictions"]
    tensors = training_area_resize(images.astype(np.float64) / 255.0).astype(np.float32)[:, None]
    body = {"inputs": [{"name": "image", "shape": list(tensors.shape), "datatype": "FP32",
                        "data": tensors.ravel().tolist()}]}
    infer = client.post(f"/v2/models/{model}/infer", json=body).json()["outputs"][0]
    expected = np.array(infer["data"]).reshape(infer["shape"])
    np.testing.assert_allclose([list(a["probabilities"].values()) for a in answers], expected, rtol=1e-4, atol=1e-6)
    right = sum(a["label"] == str(t) for a, t in zip(answers, labels))
    assert right >= len(labels) - 1
    inverted = client.post(f"/v2/models/{model}/predict", content=png(255 - images[0]),
                           headers={"Content-Type": "image/png"}).json()["predictions"][0]
    assert inverted["label"] == answers[0]["label"]


@pytest.mark.parametrize("model", IMAGE_OUT)
def test_image_output_model_returns_a_png(client, model):
    images, _ = digits(1)
    response = client.post(f"/v2/models/{model}/predict?upscale=4", content=png(images[0]),
                           headers={"Content-Type": "image/png"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (32, 32)


@pytest.mark.parametrize("model", IMAGE_OUT)
@pytest.mark.parametrize("polarity", ["bright_on_dark", "dark_on_white"])
def test_image_output_keeps_the_polarity_of_the_upload(client, model, polarity):
    images, _ = digits(4)
    for image in images:
        upload = image if polarity == "bright_on_dark" else 255 - image
        response = client.post(f"/v2/models/{model}/predict", content=png(upload),
                               headers={"Content-Type": "image/png"})
        assert response.status_code == 200
        answer = np.asarray(Image.open(io.BytesIO(response.content)), dtype=np.float64) / 255.0
        small = training_area_resize(upload[None].astype(np.float64) / 255.0)[0]
        border = np.concatenate([answer[0], answer[-1], answer[:, 0], answer[:, -1]]).mean()
        assert (border > 0.5) == (polarity == "dark_on_white")  # the background keeps its brightness
        # Pixel by pixel the answer follows the upload, not its negative.
        assert np.abs(answer - small).mean() < np.abs(answer - (1.0 - small)).mean() / 3
    json_answer = client.post(f"/v2/models/{model}/predict?format=json", content=png(upload),
                              headers={"Content-Type": "image/png"}).json()["predictions"][0]
    assert json_answer["inverted"] is (polarity == "dark_on_white")


@pytest.mark.parametrize("model", SEQUENCES)
def test_sequence_prediction_equals_the_tensor_path(client, model):
    from models.data_vowels import load_vowels

    test = load_vowels("test")
    picked = list(range(0, len(test), 37))
    sequences = [test.sequences[i] for i in picked]
    answers = client.post(f"/v2/models/{model}/predict",
                          json={"sequences": [s.tolist() for s in sequences]}).json()["predictions"]
    for sequence, answer in zip(sequences, answers):
        body = {"inputs": [
            {"name": "frames", "shape": [1, *sequence.shape], "datatype": "FP32", "data": sequence.ravel().tolist()},
            {"name": "lengths", "shape": [1], "datatype": "INT64", "data": [len(sequence)]}]}
        infer = client.post(f"/v2/models/{model}/infer", json=body).json()["outputs"][0]["data"]
        np.testing.assert_allclose(list(answer["probabilities"].values()), infer, rtol=1e-4, atol=1e-6)
    labels = configs()[model]["labels"]
    right = sum(a["label"] == labels[test.labels[i]] for a, i in zip(answers, picked))
    assert right >= len(picked) - 2


@pytest.mark.parametrize("model", TEXTS)
def test_text_tokens_and_attention_follow_the_training_tokenizer(client, model):
    vocab = CharVocab.from_config(configs()[model]["preprocessing"])
    text = "poniedziałek"
    body = client.post(f"/v2/models/{model}/attention", json={"text": text}).json()
    assert body["ids"] == vocab.encode(text)
    attentions = np.array(body["attentions"])
    np.testing.assert_allclose(attentions.sum(-1), 1.0, atol=1e-5)
    assert attentions.shape[2:] == (len(body["tokens"]),) * 2
    predicted = client.post(f"/v2/models/{model}/predict", json={"text": [text, "Montag"]}).json()["predictions"]
    # Batched with a shorter text, padding may move the last float bits only.
    np.testing.assert_allclose(list(predicted[0]["probabilities"].values()),
                               list(body["prediction"]["probabilities"].values()), atol=1e-5)


@pytest.mark.parametrize("model", TEXTS)
def test_text_without_letters_gets_no_confident_language(client, model):
    answers = client.post(f"/v2/models/{model}/predict",
                          json={"text": [" ", "12345", "3.14 + 2.72 = 5.86", "!!! ???", "(555) 123-4567"]}).json()
    for answer in answers["predictions"]:
        assert answer["probability"] < 0.5 and answer["labels"] == []


@pytest.mark.parametrize("model", TEXTS)
def test_ordinary_words_and_sentences_get_their_language(client, model):
    # Ordinary text, not CLDR names ("Montag" was a known miss: see docs/results/langid_transformer.md).
    texts = {"poniedziałek": "pl", "Where is the railway station?": "en",
             "Hvor er togstationen?": "da", "¿Dónde está la estación de tren?": "es", "Доброе утро!": "ru"}
    answers = client.post(f"/v2/models/{model}/predict", json={"text": list(texts)}).json()["predictions"]
    assert [a["label"] for a in answers] == list(texts.values())
