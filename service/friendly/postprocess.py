"""Model outputs -> friendly answers, driven by the model's declared `postprocessing` block.

The block is typed in service/core/config_blocks.py: classification ("softmax",
"sigmoid" or "none": output, applied_in_graph, multi_label, threshold, top_k)
or an image out ("image": output, value_range).

Single-label models answer the top label and the top-k; multi-label models also
answer every label at or above the threshold. Nothing here knows a model by name.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..core.config import ModelConfig
from ..core.config_blocks import ImagePostprocessing
from ..core.errors import Unprocessable

DEFAULT_TOP_K = 5
DEFAULT_THRESHOLD = 0.5
MAX_UPSCALE = 64


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = np.asarray(x, dtype=np.float64) - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return np.asarray(e / e.sum(axis=axis, keepdims=True))


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    # The two branches avoid overflow in exp for large |x|.
    return np.asarray(np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x)))))


@dataclass(frozen=True)
class Postprocessing:
    type: str
    output: str
    activation: str  # "softmax", "sigmoid" or "none": what to apply to the raw output
    multi_label: bool
    labels: list[str]
    top_k: int
    threshold: float | None
    value_range: tuple[float, float]

    @classmethod
    def from_config(cls, config: ModelConfig) -> Postprocessing:
        post = config.postprocessing
        output = post.output or _default_output(config, post.type)  # a declared one is checked at load
        size = _size(config, output)
        labels = list(config.labels) if len(config.labels) == size else [str(i) for i in range(size)]
        if isinstance(post, ImagePostprocessing):
            return cls(post.type, output, "none", False, labels, DEFAULT_TOP_K, None, post.value_range)
        in_graph = post.applied_in_graph
        # "type" is what the service applies; never apply what the graph already did.
        activation = post.type if post.type != in_graph else "none"
        multi = post.multi_label if post.multi_label is not None else "sigmoid" in (activation, in_graph)
        threshold = post.threshold if post.threshold is not None else (DEFAULT_THRESHOLD if multi else None)
        return cls(post.type, output, activation, multi, labels, post.top_k, threshold, (0.0, 1.0))

    def probabilities(self, outputs: dict[str, np.ndarray]) -> np.ndarray:
        """The declared output of one item as a flat float64 vector, activation applied."""
        raw = np.asarray(outputs[self.output], dtype=np.float64).reshape(-1)
        if self.activation == "softmax":
            return softmax(raw)
        if self.activation == "sigmoid":
            return sigmoid(raw)
        return raw

    def classify(self, outputs: dict[str, np.ndarray], top_k: int | None = None,
                 threshold: float | None = None) -> dict[str, Any]:
        """One item's answer: top label, top-k, labels over the threshold, every probability."""
        probs = self.probabilities(outputs)
        return describe(probs, self.labels, top_k or self.top_k,
                        threshold if threshold is not None else self.threshold, self.multi_label)


def describe(probs: np.ndarray, labels: list[str], top_k: int, threshold: float | None,
             multi_label: bool) -> dict[str, Any]:
    order = np.argsort(-probs, kind="stable")
    k = max(1, min(int(top_k), len(probs)))
    best = int(order[0])
    answer: dict[str, Any] = {
        "label": labels[best],
        "probability": float(probs[best]),
        "top_k": [{"label": labels[i], "probability": float(probs[i])} for i in order[:k]],
    }
    if multi_label or threshold is not None:
        cut = DEFAULT_THRESHOLD if threshold is None else threshold
        answer["threshold"] = cut
        answer["labels"] = [{"label": labels[i], "probability": float(probs[i])} for i in order if probs[i] >= cut]
    answer["probabilities"] = {label: float(p) for label, p in zip(labels, probs)}
    return answer


def _size(config: ModelConfig, output: str) -> int:
    spec = config.output_spec(output)
    return int(np.prod([d for d in spec.dims if d > 0])) if spec and spec.dims else 1


def _default_output(config: ModelConfig, kind: str) -> str:
    """The output with one value per label, else the first output."""
    if kind != "image" and config.labels:
        for spec in config.output:
            if spec.dims == [len(config.labels)]:
                return spec.name
    return config.output[0].name


# -- images out ---------------------------------------------------------------


def image_array(outputs: dict[str, np.ndarray], post: Postprocessing) -> np.ndarray:
    """One item's image output as [H, W] or [H, W, C] in [0, 1] (CHW and HWC both accepted)."""
    array = np.asarray(outputs[post.output], dtype=np.float64)
    array = array.reshape(array.shape[-3:] if array.ndim >= 3 else array.shape)
    shape: tuple[int, ...] = array.shape
    if len(shape) == 3 and shape[0] in (1, 3) and shape[-1] not in (1, 3):
        array = array.transpose(1, 2, 0)  # CHW -> HWC
    shape = array.shape  # re-read: the transpose may have moved the channel axis
    if len(shape) == 3 and shape[-1] == 1:
        array = array[..., 0]
    low, high = post.value_range
    return np.clip((array - low) / (high - low), 0.0, 1.0)


def to_png(array: np.ndarray, upscale: int = 1) -> bytes:
    """[H, W] or [H, W, 3] values in [0, 1] -> PNG bytes (grayscale or RGB), value * 255."""
    if not 1 <= upscale <= MAX_UPSCALE:
        raise Unprocessable(f"upscale must be between 1 and {MAX_UPSCALE}, received {upscale}")
    pixels = np.round(np.asarray(array) * 255.0).astype(np.uint8)
    image = Image.fromarray(pixels)  # uint8 [H, W] -> "L", [H, W, 3] -> "RGB"
    if upscale > 1:
        image = image.resize((image.width * upscale, image.height * upscale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
