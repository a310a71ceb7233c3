from __future__ import annotations

import base64

import numpy as np
import pytest

from models.data_images import area_resize as training_area_resize
from models.encoding import CharVocab
from service.core.config import ModelConfig
from service.core.errors import InvalidInput, PayloadTooLarge, Unprocessable
from service.friendly import preprocess
from tests.service.friendly_models import (
    image_classifier,
    sequence_classifier,
    text_attention,
)
from tests.service.pictures import png
from tests.service.pictures import stroke as digit
from tests.tiny_models import AFFINE_CONFIG


def cfg(build) -> ModelConfig:
    return ModelConfig.model_validate(build()[0])


IMG = cfg(image_classifier)


def test_kind_comes_from_preprocessing_type():
    assert preprocess.kind_of(IMG) == "image"
    assert preprocess.kind_of(cfg(sequence_classifier)) == "sequence"
    assert preprocess.kind_of(cfg(text_attention)) == "text"
    assert preprocess.kind_of(ModelConfig.model_validate(AFFINE_CONFIG)) is None


def test_image_feeds_are_one_batched_item_of_the_image_input():
    pixels = digit(32)
    feeds = preprocess.image_feeds(IMG, png(pixels), "file")
    expected = training_area_resize(pixels[None].astype(np.float64) / 255.0)[0]
    assert list(feeds) == ["image"]
    assert feeds["image"].shape == (1, 1, 8, 8) and feeds["image"].dtype == np.float32
    np.testing.assert_allclose(feeds["image"][0, 0], expected, atol=1e-6)


def test_image_spec_reads_the_preprocessing_block():
    spec = preprocess.image_spec(IMG)
    assert (spec.input, spec.shape, spec.layout, spec.resize) == ("image", [1, 8, 8], "CHW", "area")


def test_pixel_arrays_take_chw_or_hw():
    grid = np.linspace(0, 1, 64).reshape(8, 8)
    a = preprocess.array_feeds(IMG, grid.tolist(), "images[0]")["image"]
    b = preprocess.array_feeds(IMG, grid[None].tolist(), "images[0]")["image"]
    assert a.shape == b.shape == (1, 1, 8, 8)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros((7, 8)).tolist(), "images[0]: expected shape [1, 8, 8] (or [H, W] for one channel), received [7, 8]"),
        ([[0.0] * 8] * 7 + [[0.0] * 7], "images[0]: expected a rectangular nested list of numbers"),
        ([[float("nan")] * 8] * 8, "images[0]: NaN or Inf values are not allowed (first at index [0, 0, 0])"),
        ([[0.0] * 8] * 7 + [[0.0] * 7 + [5.0]],
         "images[0]: pixel value 5 at index [0, 7, 7] is outside the model's value_range [0, 1]"),
        ([[True] + [0.0] * 7] * 8, "images[0]: expected a rectangular nested list of numbers"),
    ],
)
def test_bad_pixel_arrays(value, message):
    with pytest.raises(InvalidInput) as info:
        preprocess.array_feeds(IMG, value, "images[0]")
    assert info.value.message == message


def test_base64_with_or_without_data_url():
    data = png(digit(8))
    text = base64.b64encode(data).decode()
    assert preprocess.decode_b64(text, "x") == data
    assert preprocess.decode_b64("data:image/png;base64," + text, "x") == data
    with pytest.raises(InvalidInput, match=r"images_b64\[1\]: not valid base64 \(received 5 characters\)"):
        preprocess.decode_b64("ab!cd", "images_b64[1]")


SEQ = cfg(sequence_classifier)


def test_sequence_feeds_carry_the_length():
    feeds = preprocess.sequence_feeds(SEQ, [[0.5] * 12] * 5, "frames", 10_000)
    assert feeds["frames"].shape == (1, 5, 12) and feeds["frames"].dtype == np.float32
    assert feeds["lengths"].tolist() == [5] and feeds["lengths"].dtype == np.int64


@pytest.mark.parametrize(
    ("frames", "error", "message"),
    [
        ([[0.0] * 12, [0.0] * 11], InvalidInput, "frames[1]: expected 12 channels, received 11"),
        ([], Unprocessable, "frames: 0 frame(s); expected at least 1"),
        ([[0.0] * 12] * 51, PayloadTooLarge, "frames: 51 frames exceed the limit of 50"),
        ([[0.0] * 11 + [float("inf")]], InvalidInput, "frames: NaN or Inf values are not allowed (first at index [0, 11])"),
    ],
)
def test_bad_sequences(frames, error, message):
    with pytest.raises(error) as info:
        preprocess.sequence_feeds(SEQ, frames, "frames", 10_000)
    assert info.value.message == message


def test_tokenizer_matches_the_training_tokenizer():
    vocab = CharVocab(list("abcdefg "), max_length=6)
    config = ModelConfig.model_validate({**text_attention()[0], "preprocessing": vocab.to_config()})
    for text in ["abc", "zebra gab", "g", "abcdefgabc"]:
        tokenized = preprocess.tokenize(config, text, "text", 1024)
        assert tokenized.ids == vocab.encode(text)
        assert tokenized.truncated == (len(text) > 6)
        tokens, mask = vocab.encode_batch([text])
        feeds = preprocess.text_feeds(config, tokenized)
        np.testing.assert_array_equal(feeds["tokens"], tokens)
        np.testing.assert_array_equal(feeds["mask"], mask)


def test_tokenizer_adds_cls_when_declared():
    tokenized = preprocess.tokenize(cfg(text_attention), "ab?", "text", 1024)
    assert tokenized.ids == [2, 3, 4, 1]
    assert tokenized.tokens == ["<cls>", "a", "b", "<unk>"]


def test_tokenizer_refuses_empty_and_overlong_text():
    config = cfg(text_attention)
    with pytest.raises(Unprocessable, match=r"^text\[1\]: empty string; expected at least 1 character$"):
        preprocess.tokenize(config, "", "text[1]", 1024)
    with pytest.raises(PayloadTooLarge, match=r"^text: 11 characters exceed the limit of 10$"):
        preprocess.tokenize(config, "a" * 11, "text", 10)
