"""Image decoding and pixel maths: uploads reach the model the way training images did."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from models.data_images import area_resize as training_area_resize
from service.core.config import ModelConfig
from service.core.errors import InvalidInput, PayloadTooLarge
from service.friendly import images, preprocess
from tests.service.friendly_models import image_classifier
from tests.service.pictures import png
from tests.service.pictures import stroke as digit

# 1 x 8 x 8, CHW, bright ink on dark, area resize: as load_digits
SPEC = preprocess.image_spec(ModelConfig.model_validate(image_classifier()[0]))


def tensor(data: bytes, where: str = "file") -> np.ndarray:
    return images.image_tensor(images.open_image(data, where), SPEC)


def test_area_resize_is_a_block_mean_on_a_centred_canvas():
    # 2 x 4 ones onto a 2 x 2 grid: blocks of 2, the image centred in a 4 x 4 canvas of zeros.
    out = images.area_resize(np.ones((2, 4, 1)), 2, 2, fill=0.0)
    np.testing.assert_allclose(out[..., 0], [[0.5, 0.5], [0.5, 0.5]])


def test_image_upload_matches_the_training_area_resize():
    pixels = digit(32)
    out = tensor(png(pixels))
    expected = training_area_resize(pixels[None].astype(np.float64) / 255.0)[0]
    assert out.shape == (1, 8, 8) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], expected, atol=1e-6)


def test_non_square_upload_is_centred_like_training():
    pixels = digit(40)[:, 4:34]  # 40 x 30
    expected = training_area_resize(pixels[None].astype(np.float64) / 255.0)[0]
    np.testing.assert_allclose(tensor(png(pixels))[0], expected, atol=1e-6)


def test_dark_ink_on_white_is_inverted_automatically():
    pixels = digit(32)
    bright_on_dark = tensor(png(pixels))
    dark_on_white = tensor(png(255 - pixels))
    np.testing.assert_allclose(dark_on_white, bright_on_dark, atol=1e-6)


def test_colour_and_transparent_uploads_become_grayscale():
    pixels = digit(16)
    rgb = np.stack([pixels] * 3, axis=2)
    gray = tensor(png(pixels))
    np.testing.assert_allclose(tensor(png(rgb)), gray, atol=1e-6)
    # Black ink on a transparent canvas: composited onto white, then inverted to bright-on-dark.
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 3] = pixels
    out = tensor(png(rgba))
    np.testing.assert_allclose(out, gray, atol=0.01)


def test_jpeg_and_16_bit_png_decode():
    pixels = digit(64)
    jpeg = tensor(png(pixels, fmt="JPEG"))
    reference = tensor(png(pixels))
    assert np.abs(jpeg - reference).max() < 0.05
    sixteen = Image.fromarray(pixels.astype(np.uint16) * 257)
    buffer = io.BytesIO()
    sixteen.save(buffer, format="PNG")
    np.testing.assert_allclose(tensor(buffer.getvalue()), reference, atol=1e-6)


def test_large_upload_is_reduced_first_and_still_area_averaged():
    pixels = digit(32).repeat(16, axis=0).repeat(16, axis=1)  # 512 x 512
    out = tensor(png(pixels))
    expected = training_area_resize(digit(32)[None].astype(np.float64) / 255.0)[0]
    np.testing.assert_allclose(out[0], expected, atol=2 / 255)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "file: empty upload; expected a PNG or JPEG image"),
        (b"hello, not an image", "file: not a PNG or JPEG image (received 19 bytes starting b'hello, n')"),
        (png(digit(32))[:60], "file: corrupt or truncated image data"),
    ],
)
def test_bad_uploads_name_the_problem(data, message):
    with pytest.raises(InvalidInput) as info:
        tensor(data)
    assert info.value.message.startswith(message)


def test_other_image_formats_are_refused():
    with pytest.raises(InvalidInput, match=r"file: expected a PNG or JPEG image, received GIF"):
        tensor(png(digit(8), fmt="GIF"))


def test_oversized_image_is_413(monkeypatch):
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(PayloadTooLarge, match=r"file: image of 32x32 pixels exceeds the limit of 100 pixels"):
        tensor(png(digit(32)))
