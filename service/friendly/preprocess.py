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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.config import ModelConfig, TensorSpec
from ..core.config_blocks import ImagePreprocessing, SequencePreprocessing, TextPreprocessing
from ..core.datatypes import numpy_dtype
from ..core.errors import InvalidInput, PayloadTooLarge, Unprocessable
from .images import ImageSpec, image_tensor_and_inversion, open_image

KINDS = {"image": "image", "sequence": "sequence", "chars": "text", "text": "text"}


def kind_of(config: ModelConfig) -> str | None:
    """'image', 'sequence', 'text', or None when the model declares no friendly preprocessing."""
    return None if config.preprocessing is None else KINDS[config.preprocessing.type]


def _input(config: ModelConfig, name: str | None, key: str, default: TensorSpec | None) -> TensorSpec:
    """The input named by preprocessing.<key> (`name`), else the default; 422 when neither exists."""
    spec = config.input_spec(name) if name else default
    if spec is None:
        raise Unprocessable(
            f"model {config.name!r}: cannot tell which input is {key!r}; set preprocessing.{key} "
            f"to one of {[s.name for s in config.input]}"
        )
    return spec


def _sequence_block(config: ModelConfig) -> SequencePreprocessing:
    pre = config.preprocessing
    return pre if isinstance(pre, SequencePreprocessing) else SequencePreprocessing(type="sequence")


def _text_block(config: ModelConfig) -> TextPreprocessing:
    pre = config.preprocessing
    return pre if isinstance(pre, TextPreprocessing) else TextPreprocessing(type="chars")


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


# -- images (decoding and pixel maths live in images.py) ------------------------


def decode_b64(text: str, where: str) -> bytes:
    if text.startswith("data:") and "," in text:  # data URL: data:image/png;base64,....
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{where}: not valid base64 (received {len(text)} characters)") from None


def image_spec(config: ModelConfig) -> ImageSpec:
    """The image input: preprocessing.input, else the first input shaped like an image."""
    first = next((s for s in config.input if len(s.dims) in (2, 3)), config.input[0])
    pre = config.preprocessing
    name = pre.input if isinstance(pre, ImagePreprocessing | SequencePreprocessing) else None
    return ImageSpec.from_config(config, _input(config, name, "input", first))


def image_feeds(config: ModelConfig, data: bytes, where: str) -> dict[str, np.ndarray]:
    """Encoded image bytes -> feeds of one item."""
    return image_feeds_and_inversion(config, data, where)[0]


def image_feeds_and_inversion(config: ModelConfig, data: bytes, where: str) -> tuple[dict[str, np.ndarray], bool]:
    """Encoded image bytes -> feeds of one item, and whether the upload's polarity was inverted."""
    spec = image_spec(config)
    tensor, inverted = image_tensor_and_inversion(open_image(data, where), spec)
    return _batch(config, {spec.input: tensor}), inverted


def array_feeds(config: ModelConfig, pixels: object, where: str) -> dict[str, np.ndarray]:
    """An already-preprocessed pixel array ([C, H, W], or [H, W] for one channel) -> feeds."""
    spec = image_spec(config)
    array = _numeric(pixels, where)
    if spec.channels == 1 and list(array.shape) == [spec.height, spec.width]:
        array = array.reshape(spec.shape)
    if list(array.shape) != spec.shape:
        raise InvalidInput(f"{where}: expected shape {spec.shape} (or [H, W] for one channel), received {list(array.shape)}")
    _finite(array, where)
    if spec.value_range is not None and spec.mean is None:
        # The declared pixel range (before any mean/std, which would move it).
        low, high = spec.value_range
        outside = (array < low) | (array > high)
        if outside.any():
            index = np.argwhere(outside)[0].tolist()
            raise InvalidInput(
                f"{where}: pixel value {array[tuple(index)].item():g} at index {index} is outside "
                f"the model's value_range [{low:g}, {high:g}]"
            )
    return _batch(config, {spec.input: array})


def _numeric(values: object, where: str) -> np.ndarray:
    try:
        array = np.asarray(values)
    except (ValueError, TypeError):
        raise InvalidInput(f"{where}: expected a rectangular nested list of numbers") from None
    if array.dtype.kind not in "iuf" or _has_bool(values):
        # true/false are not numbers (numpy would read [true, 0] as [1, 0]), nor are strings.
        raise InvalidInput(f"{where}: expected a rectangular nested list of numbers")
    return array.astype(np.float32)


def _has_bool(values: object) -> bool:
    if isinstance(values, bool):
        return True
    if isinstance(values, (list, tuple)):
        return any(_has_bool(v) for v in values) if values and isinstance(values[0], (list, tuple)) \
            else bool in set(map(type, values))
    return False


# -- sequences ----------------------------------------------------------------


def sequence_feeds(config: ModelConfig, frames: Sequence[Sequence[float]], where: str,
                   max_length: int) -> dict[str, np.ndarray]:
    """Frames [T, channels] -> feeds of one item (frames, plus lengths when declared)."""
    pre = _sequence_block(config)
    named = next((s for s in config.input if s.datatype.startswith("FP") and s.variable), config.input[0])
    spec = _input(config, pre.input, "input", named)
    channels = pre.channels or spec.dims[-1]
    limit = min(pre.max_length or max_length, max_length)
    shortest = pre.min_length
    if len(frames) < shortest:
        raise Unprocessable(f"{where}: {len(frames)} frame(s); expected at least {shortest}")
    if len(frames) > limit:
        raise PayloadTooLarge(f"{where}: {len(frames)} frames exceed the limit of {limit}")
    for t, frame in enumerate(frames):
        if len(frame) != channels:
            raise InvalidInput(f"{where}[{t}]: expected {channels} channels, received {len(frame)}")
    array = _finite(_numeric(frames, where), where)
    if pre.mean is not None and pre.std is not None:  # only when the service, not the graph, normalises
        array = (array - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
    feeds = {spec.name: array.astype(numpy_dtype(spec.datatype))}
    lengths = config.input_spec(pre.lengths_input or "") or next(
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
    pre = _text_block(config)
    vocab = pre.vocab
    if not vocab:
        raise Unprocessable(f"model {config.name!r}: preprocessing.vocab is missing; cannot tokenize text")
    if not text:
        raise Unprocessable(f"{where}: empty string; expected at least 1 character")
    if len(text) > max_chars:
        raise PayloadTooLarge(f"{where}: {len(text)} characters exceed the limit of {max_chars}")
    if pre.lowercase:
        text = text.lower()
    room = (pre.max_length or max_chars) - (1 if pre.add_cls else 0)
    kept = text[-room:] if pre.truncation == "left" else text[:room]
    stoi = {token: i for i, token in enumerate(vocab)}
    ids = ([pre.cls_id] if pre.add_cls else []) + [stoi.get(ch, pre.unk_id) for ch in kept]
    return Tokenized(ids, [vocab[i] for i in ids], len(kept) < len(text))


def text_feeds(config: ModelConfig, tokenized: Tokenized) -> dict[str, np.ndarray]:
    """Token ids -> feeds of one item: the ids input and, when declared, a mask of ones."""
    pre = _text_block(config)
    ints = [s for s in config.input if s.datatype.startswith("INT") and s.variable]
    spec = _input(config, pre.tokens_input, "tokens_input", ints[0] if ints else None)
    feeds = {spec.name: np.asarray(tokenized.ids, dtype=numpy_dtype(spec.datatype))}
    mask = config.input_spec(pre.mask_input or "") or next(
        (s for s in config.input if s.name != spec.name and s.variable), None)
    if mask is not None:
        feeds[mask.name] = np.ones(len(tokenized.ids), dtype=numpy_dtype(mask.datatype))
    return _batch(config, feeds)
