from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from service.core.config import ModelConfig
from service.core.errors import Unprocessable
from service.friendly.postprocess import Postprocessing, image_array, sigmoid, softmax, to_png
from tests.service.friendly_models import image_autoencoder, image_classifier, text_attention


def config_with(build, **post) -> ModelConfig:
    raw = build()[0]
    return ModelConfig.model_validate({**raw, "postprocessing": post} if post else raw)


def test_softmax_and_sigmoid_are_stable_for_large_values():
    np.testing.assert_allclose(softmax(np.array([1000.0, 1000.0])), [0.5, 0.5])
    np.testing.assert_allclose(sigmoid(np.array([-1000.0, 0.0, 1000.0])), [0.0, 0.5, 1.0])
    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(softmax(x), np.exp(x) / np.exp(x).sum())
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)))


def test_declared_softmax_is_applied_to_logits():
    post = Postprocessing.from_config(config_with(image_classifier, type="softmax", top_k=2))
    answer = post.classify({"probabilities": np.array([0.0, 2.0, 1.0], np.float32)})
    assert answer["label"] == "one"
    assert answer["probability"] == pytest.approx(softmax(np.array([0.0, 2.0, 1.0]))[1])
    assert [x["label"] for x in answer["top_k"]] == ["one", "two"]
    assert "labels" not in answer  # single-label: no threshold unless asked for


def test_an_activation_already_in_the_graph_is_not_applied_twice():
    post = Postprocessing.from_config(config_with(text_attention, type="sigmoid", applied_in_graph="sigmoid"))
    assert post.activation == "none" and post.multi_label
    assert post.probabilities({"probabilities": np.array([0.9, 0.1, 0.6, 0.2])}).tolist() == [0.9, 0.1, 0.6, 0.2]


def test_multi_label_answers_labels_over_the_threshold_in_probability_order():
    post = Postprocessing.from_config(config_with(text_attention))
    answer = post.classify({"probabilities": np.array([0.6, 0.1, 0.9, 0.5])})
    assert [x["label"] for x in answer["labels"]] == ["de", "en", "ru"]  # >= 0.5
    assert answer["threshold"] == 0.5
    assert [x["label"] for x in post.classify({"probabilities": np.array([0.6, 0.1, 0.9, 0.5])},
                                              top_k=10, threshold=0.7)["labels"]] == ["de"]
    assert len(answer["top_k"]) == 3 and answer["probabilities"]["fr"] == pytest.approx(0.1)


def test_top_k_is_clipped_to_the_number_of_labels():
    post = Postprocessing.from_config(config_with(image_classifier))
    assert len(post.classify({"probabilities": np.array([0.2, 0.3, 0.5])}, top_k=50)["top_k"]) == 3


def test_output_defaults_to_the_one_with_a_value_per_label():
    post = Postprocessing.from_config(config_with(text_attention, type="none"))
    assert post.output == "probabilities" and post.labels == ["en", "fr", "de", "ru"]


def test_an_unknown_declared_output_fails_at_load():
    with pytest.raises(ValidationError, match=r"postprocessing.output 'logits' is not an output; expected one of \['probabilities'\]"):
        config_with(image_classifier, type="softmax", output="logits")


def test_image_output_becomes_a_png_of_the_right_size():
    post = Postprocessing.from_config(config_with(image_autoencoder))
    values = np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 8, 8)
    array = image_array({"reconstruction": values}, post)
    assert array.shape == (8, 8)
    image = Image.open(io.BytesIO(to_png(array, upscale=4)))
    assert image.size == (32, 32) and image.mode == "L"
    decoded = np.asarray(Image.open(io.BytesIO(to_png(array))), dtype=np.float64) / 255
    np.testing.assert_allclose(decoded, values[0], atol=0.5 / 255 + 1e-6)


def test_upscale_is_bounded():
    with pytest.raises(Unprocessable, match="upscale must be between 1 and 64, received 65"):
        to_png(np.zeros((8, 8)), upscale=65)
