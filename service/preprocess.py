"""Friendly inputs -> model tensors, driven by the model's declared `preprocessing` block.

`preprocessing.type` picks the kind (nothing here knows a model by name):
"image" (PNG/JPEG bytes or preprocessed pixel arrays -> [C, H, W] float32, as in
training), "sequence" (frames [T, channels], plus the length input) or "chars"
(a string -> token ids and a mask, as the training tokenizer does).

Each function returns the feeds of ONE item with a leading batch axis of 1 (when
the model is batched), so every item is queued on its own and batches with other
requests' items. Errors name the field, what was expected and what was received.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .config import ModelConfig, TensorSpec
from .datatypes import numpy_dtype
from .errors import InvalidInput, PayloadTooLarge, Unprocessable

IMAGE_FORMATS = ("PNG", "JPEG")
MAX_IMAGE_PIXELS = 4096 * 4096  # decoded size; larger uploads answer 413 before decoding
KINDS = {"image": "image", "sequence": "sequence", "chars": "text", "text": "text"}


def kind_of(config: ModelConfig) -> str | None:
    """'image', 'sequence', 'text', or None when the model declares no friendly preprocessing."""
    return KINDS.get(str(config.preprocessing.get("type", "")).lower())


def _input(config: ModelConfig, key: str, default: TensorSpec | None) -> TensorSpec:
    """The input named by preprocessing[key], else the default; 422 when neither exists."""
    name = config.preprocessing.get(key)
    spec = config.input_spec(name) if name else default
    if spec is None:
        raise Unprocessable(
            f"model {config.name!r}: cannot tell which input is {key!r}; set preprocessing.{key} "
            f"to one of {[s.name for s in config.input]}"
        )
    return spec


def _batch(config: ModelConfig, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    missing = [s.name for s in config.input if s.name not in feeds]
    if missing:
        raise Unprocessable(f"model {config.name!r}: the friendly endpoint cannot fill input(s) {missing}")
    return {k: v[None, ...] for k, v in feeds.items()} if config.batched else feeds


def _finite(array: np.ndarray, where: str) -> np.ndarray:
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0].tolist()
        raise InvalidInput(f"{where}: NaN or Inf values are not allowed (first at index {bad})")
    return array


# -- images -------------------------------------------------------------------


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
    def from_config(cls, config: ModelConfig) -> ImageSpec:
        pre = config.preprocessing
        first = next((s for s in config.input if len(s.dims) in (2, 3)), config.input[0])
        spec = _input(config, "input", first)
        layout = str(pre.get("layout", "CHW")).upper()
        dims = spec.dims if len(spec.dims) == 3 else [1, *spec.dims]
        c, h, w = dims if layout == "CHW" else (dims[2], dims[0], dims[1])
        scale = pre.get("scale", 1.0 / 255.0)
        if isinstance(scale, dict):  # e.g. {"load_digits": 1/16, "uint8": 1/255}: uploads are 8-bit
            scale = scale.get("uint8", 1.0 / 255.0)
        invert = {True: "always", False: "never"}.get(pre.get("invert"), str(pre.get("invert", "never")))
        vr, mean, std = pre.get("value_range"), pre.get("mean"), pre.get("std")
        return cls(
            spec.name, int(pre.get("height", h)), int(pre.get("width", w)), int(pre.get("channels", c)),
            layout, float(scale), invert, str(pre.get("background", "dark")), str(pre.get("resize", "area")),
            (float(vr[0]), float(vr[1])) if vr else None,
            tuple(np.atleast_1d(mean).tolist()) if mean is not None else None,
            tuple(np.atleast_1d(std).tolist()) if std is not None else None,
        )

    @property
    def shape(self) -> list[int]:
        return [self.channels, self.height, self.width] if self.layout == "CHW" else [
            self.height, self.width, self.channels]


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
        method = {"nearest": Image.NEAREST, "bicubic": Image.BICUBIC}.get(spec.resize, Image.BILINEAR)
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
    return canvas.reshape(height, block, width, block, c).mean(axis=(1, 3))


def image_tensor(image: Image.Image, spec: ImageSpec) -> np.ndarray:
    """A decoded image -> the model's input tensor (without batch axis), as in training."""
    array = _pixels(image, spec)
    dark = spec.background == "dark"
    if spec.invert == "always" or (spec.invert == "auto" and _light_background(array) == dark):
        array = 1.0 - array
    if array.shape[:2] != (spec.height, spec.width):
        array = area_resize(array, spec.height, spec.width, 0.0 if dark else 1.0)
    if spec.value_range is not None:
        array = np.clip(array, *spec.value_range)
    if spec.mean is not None and spec.std is not None:
        array = (array - np.asarray(spec.mean)) / np.asarray(spec.std)
    if spec.layout == "CHW":
        array = array.transpose(2, 0, 1)
    return np.ascontiguousarray(array, dtype=np.float32)


def _light_background(array: np.ndarray) -> bool:
    """The border's mean brightness tells the background: above mid-grey means light."""
    border = np.concatenate([array[0].ravel(), array[-1].ravel(), array[:, 0].ravel(), array[:, -1].ravel()])
    return float(border.mean()) > 0.5


def decode_b64(text: str, where: str) -> bytes:
    if text.startswith("data:") and "," in text:  # data URL: data:image/png;base64,....
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{where}: not valid base64 (received {len(text)} characters)") from None


def image_feeds(config: ModelConfig, data: bytes, where: str) -> dict[str, np.ndarray]:
    """Encoded image bytes -> feeds of one item."""
    spec = ImageSpec.from_config(config)
    return _batch(config, {spec.input: image_tensor(open_image(data, where), spec)})


def array_feeds(config: ModelConfig, pixels: object, where: str) -> dict[str, np.ndarray]:
    """An already-preprocessed pixel array ([C, H, W], or [H, W] for one channel) -> feeds."""
    spec = ImageSpec.from_config(config)
    array = _numeric(pixels, where)
    if spec.channels == 1 and list(array.shape) == [spec.height, spec.width]:
        array = array.reshape(spec.shape)
    if list(array.shape) != spec.shape:
        raise InvalidInput(f"{where}: expected shape {spec.shape} (or [H, W] for one channel), received {list(array.shape)}")
    return _batch(config, {spec.input: _finite(array, where)})


def _numeric(values: object, where: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float32)
    except (ValueError, TypeError):
        raise InvalidInput(f"{where}: expected a rectangular nested list of numbers") from None


# -- sequences ----------------------------------------------------------------


def sequence_feeds(config: ModelConfig, frames: list, where: str, max_length: int) -> dict[str, np.ndarray]:
    """Frames [T, channels] -> feeds of one item (frames, plus lengths when declared)."""
    pre = config.preprocessing
    named = next((s for s in config.input if s.datatype.startswith("FP") and s.variable), config.input[0])
    spec = _input(config, "input", named)
    channels = int(pre.get("channels", spec.dims[-1]))
    limit = min(int(pre.get("max_length", max_length)), max_length)
    shortest = max(1, int(pre.get("min_length", 1)))
    if len(frames) < shortest:
        raise Unprocessable(f"{where}: {len(frames)} frame(s); expected at least {shortest}")
    if len(frames) > limit:
        raise PayloadTooLarge(f"{where}: {len(frames)} frames exceed the limit of {limit}")
    for t, frame in enumerate(frames):
        if len(frame) != channels:
            raise InvalidInput(f"{where}[{t}]: expected {channels} channels, received {len(frame)}")
    array = _finite(_numeric(frames, where), where)
    if "mean" in pre and "std" in pre:  # only when the service, not the graph, normalises
        array = (array - np.asarray(pre["mean"], np.float32)) / np.asarray(pre["std"], np.float32)
    feeds = {spec.name: array.astype(numpy_dtype(spec.datatype))}
    lengths = config.input_spec(pre.get("lengths_input") or "") or next(
        (s for s in config.input if s.dims == [] and s.datatype.startswith("INT")), None)
    if lengths is not None:
        feeds[lengths.name] = np.asarray(len(frames), dtype=numpy_dtype(lengths.datatype))
    return _batch(config, feeds)


# -- text ---------------------------------------------------------------------


@dataclass(frozen=True)
class Tokenized:
    ids: list[int]
    tokens: list[str]  # one per id, for labelling attention rows; unknown characters show as <unk>
    truncated: bool


def tokenize(config: ModelConfig, text: str, where: str, max_chars: int) -> Tokenized:
    """A string -> token ids, exactly as the training tokenizer (preprocessing type "chars")."""
    pre = config.preprocessing
    vocab = list(pre.get("vocab") or [])
    if not vocab:
        raise Unprocessable(f"model {config.name!r}: preprocessing.vocab is missing; cannot tokenize text")
    if not text:
        raise Unprocessable(f"{where}: empty string; expected at least 1 character")
    if len(text) > max_chars:
        raise PayloadTooLarge(f"{where}: {len(text)} characters exceed the limit of {max_chars}")
    unk, cls_id = int(pre.get("unk_id", 1)), int(pre.get("cls_id", 2))
    if pre.get("lowercase"):
        text = text.lower()
    add_cls = bool(pre.get("add_cls", False))
    room = int(pre.get("max_length", max_chars)) - (1 if add_cls else 0)
    kept = text[-room:] if pre.get("truncation") == "left" else text[:room]
    stoi = {token: i for i, token in enumerate(vocab)}
    ids = ([cls_id] if add_cls else []) + [stoi.get(ch, unk) for ch in kept]
    return Tokenized(ids, [vocab[i] for i in ids], len(kept) < len(text))


def text_feeds(config: ModelConfig, tokenized: Tokenized) -> dict[str, np.ndarray]:
    """Token ids -> feeds of one item: the ids input and, when declared, a mask of ones."""
    pre = config.preprocessing
    ints = [s for s in config.input if s.datatype.startswith("INT") and s.variable]
    spec = _input(config, "tokens_input", ints[0] if ints else None)
    feeds = {spec.name: np.asarray(tokenized.ids, dtype=numpy_dtype(spec.datatype))}
    mask = config.input_spec(pre.get("mask_input") or "") or next(
        (s for s in config.input if s.name != spec.name and s.variable), None)
    if mask is not None:
        feeds[mask.name] = np.ones(len(tokenized.ids), dtype=numpy_dtype(mask.datatype))
    return _batch(config, feeds)
