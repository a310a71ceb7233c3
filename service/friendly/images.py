"""Image uploads -> model tensors: decoding, colour and transparency, inversion, resizing.

Everything here reproduces what the training code did to its images (see
models/data_images.py), so an uploaded PNG reaches the model the way the
training set did. Decoding guards: only PNG/JPEG, a pixel limit checked before
the pixels are decoded, and every Pillow failure is a 4xx naming the field.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..core.config import ModelConfig, TensorSpec
from ..core.config_blocks import ImagePreprocessing
from ..core.errors import InvalidInput, PayloadTooLarge

IMAGE_FORMATS = ("PNG", "JPEG")
MAX_IMAGE_PIXELS = 4096 * 4096  # decoded size; larger uploads answer 413 before decoding


@dataclass(frozen=True)
class ImageSpec:
    input: str
    height: int
    width: int
    channels: int
    layout: str  # "CHW" or "HWC"
    scale: float  # applied to 8-bit pixel values
    invert: str  # "auto", "always", "never"
    background: str  # "dark" or "light": what the model was trained on
    resize: str  # "area" (box average, as load_digits was made), "bilinear", "nearest", "bicubic"
    value_range: tuple[float, float] | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None

    @classmethod
    def from_config(cls, config: ModelConfig, spec: TensorSpec) -> ImageSpec:
        """The model's `preprocessing` block, read for its image input `spec`."""
        pre = config.preprocessing
        if not isinstance(pre, ImagePreprocessing):  # e.g. pixel arrays sent to a model without the block
            pre = ImagePreprocessing(type="image")
        dims = spec.dims if len(spec.dims) == 3 else [1, *spec.dims]
        c, h, w = dims if pre.layout == "CHW" else (dims[2], dims[0], dims[1])
        return cls(
            spec.name, pre.height or h, pre.width or w, pre.channels or c,
            pre.layout, pre.scale, pre.invert, pre.background, pre.resize, pre.value_range,
            _per_channel(pre.mean), _per_channel(pre.std),
        )

    @property
    def shape(self) -> list[int]:
        return [self.channels, self.height, self.width] if self.layout == "CHW" else [
            self.height, self.width, self.channels]


def _per_channel(value: float | list[float] | None) -> tuple[float, ...] | None:
    return None if value is None else tuple(float(v) for v in np.atleast_1d(value))


def open_image(data: bytes, where: str) -> Image.Image:
    """Decode PNG/JPEG bytes with Pillow; corrupt, foreign or oversized data is a 4xx."""
    if not data:
        raise InvalidInput(f"{where}: empty upload; expected a PNG or JPEG image")
    try:
        # Pillow itself refuses "decompression bombs" (> 2x its own pixel limit) at open().
        image = Image.open(io.BytesIO(data))
        if image.format not in IMAGE_FORMATS:
            raise InvalidInput(f"{where}: expected a PNG or JPEG image, received {image.format}")
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise PayloadTooLarge(
                f"{where}: image of {image.width}x{image.height} pixels exceeds the limit of {MAX_IMAGE_PIXELS} pixels"
            )
        image.load()
        return ImageOps.exif_transpose(image)
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(f"{where}: {exc}") from None
    except UnidentifiedImageError:
        raise InvalidInput(
            f"{where}: not a PNG or JPEG image (received {len(data)} bytes starting {data[:8]!r})"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(f"{where}: corrupt or truncated image data: {exc}") from None


def _pixels(image: Image.Image, spec: ImageSpec) -> np.ndarray:
    """Any Pillow mode -> [H, W, C] float (8-bit values x scale); transparency composited onto white.

    Large uploads are first box-reduced by Pillow to about 4x the model's size,
    which keeps memory bounded and is still an area average.
    """
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit or float grayscale -> 8-bit
        factor = 255.0 if image.mode == "F" else 1.0 / 257.0
        image = Image.fromarray(np.clip(np.asarray(image, np.float64) * factor, 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    image = image.convert("L" if spec.channels == 1 else "RGB")
    if spec.resize != "area":
        resampling = Image.Resampling
        method = {"nearest": resampling.NEAREST, "bicubic": resampling.BICUBIC}.get(spec.resize, resampling.BILINEAR)
        image = image.resize((spec.width, spec.height), method)
    factor = min(image.width // spec.width, image.height // spec.height) // 4
    if factor > 1:
        image = image.reduce(factor)
    array = np.asarray(image, dtype=np.float64) * spec.scale
    return array[..., None] if array.ndim == 2 else array


def area_resize(array: np.ndarray, height: int, width: int, fill: float) -> np.ndarray:
    """Box-average [H, W, C] down to [height, width, C], centring on a padded canvas first.

    The same operation as the training code's `area_resize` (load_digits were
    made by counting ink in 4x4 blocks of 32x32 bitmaps); smaller images are
    centred on the background, as in training, not enlarged.
    """
    h, w, c = array.shape
    block = int(np.ceil(max(h / height, w / width)))
    canvas = np.full((height * block, width * block, c), fill, dtype=np.float64)
    top, left = (height * block - h) // 2, (width * block - w) // 2
    canvas[top : top + h, left : left + w] = array
    return np.asarray(canvas.reshape(height, block, width, block, c).mean(axis=(1, 3)))


def image_tensor(image: Image.Image, spec: ImageSpec) -> np.ndarray:
    """A decoded image -> the model's input tensor (without batch axis), as in training."""
    return image_tensor_and_inversion(image, spec)[0]


def image_tensor_and_inversion(image: Image.Image, spec: ImageSpec) -> tuple[np.ndarray, bool]:
    """The input tensor, and whether the upload was inverted to get it (an image-output model's
    answer is inverted back, so it comes back in the upload's polarity)."""
    array = _pixels(image, spec)
    dark = spec.background == "dark"
    inverted = spec.invert == "always" or (spec.invert == "auto" and _light_background(array) == dark)
    if inverted:
        array = 1.0 - array
    if array.shape[:2] != (spec.height, spec.width):
        array = area_resize(array, spec.height, spec.width, 0.0 if dark else 1.0)
    if spec.value_range is not None:
        array = np.clip(array, *spec.value_range)
    if spec.mean is not None and spec.std is not None:
        array = (array - np.asarray(spec.mean)) / np.asarray(spec.std)
    if spec.layout == "CHW":
        array = array.transpose(2, 0, 1)
    return np.ascontiguousarray(array, dtype=np.float32), inverted


def _light_background(array: np.ndarray) -> bool:
    """The border's mean brightness tells the background: above mid-grey means light."""
    border = np.concatenate([array[0].ravel(), array[-1].ravel(), array[:, 0].ravel(), array[:, -1].ravel()])
    return float(border.mean()) > 0.5
