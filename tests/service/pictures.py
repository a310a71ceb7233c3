"""Test pictures: encoded uploads, and a synthetic digit-like stroke (a labelled fixture, not data)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def png(array: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    """`array` encoded as PNG (or `fmt`), optionally converted to Pillow `mode` first."""
    buffer = io.BytesIO()
    image = Image.fromarray(array)
    if mode:
        image = image.convert(mode)
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def stroke(size: int = 32, seed: int = 1) -> np.ndarray:
    """Synthetic fixture: a bright stroke on a dark background with a little noise, uint8 [size, size]."""
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size), np.uint8)
    image[size // 4 : 3 * size // 4, size // 3 : size // 3 + size // 6] = 255
    image[size // 4 : size // 4 + size // 8, size // 4 : 3 * size // 4] = 200
    return np.clip(image + rng.integers(0, 20, image.shape), 0, 255).astype(np.uint8)
