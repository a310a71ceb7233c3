"""Image data: the UCI handwritten digits (built in) and MNIST-style IDX files (users' own).

Every loader returns float32 images shaped [N, 1, 8, 8] in [0, 1] with bright ink
on a dark background, and int64 labels. That is the one convention the exported
CNNs and the denoiser expect, and it is what each config.json declares.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SIZE = 8
DIGITS_MAX = 16.0  # load_digits pixels are counts of ink in 4x4 blocks: 0..16
DIGIT_LABELS = [str(d) for d in range(10)]
DIGITS_SOURCE = {
    "name": "UCI Optical Recognition of Handwritten Digits (sklearn.datasets.load_digits)",
    "url": "https://archive.ics.uci.edu/dataset/80",
    "licence": "CC BY 4.0",
}

# IDX type codes (http://yann.lecun.com/exdb/mnist/): code -> big-endian numpy dtype.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass
class ImageSplit:
    """A fixed train/test split; `test_index` refers to rows of the full dataset."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    test_index: np.ndarray
    description: str

    @property
    def record(self) -> dict:
        digest = hashlib.sha256(np.sort(self.test_index).astype("<i8").tobytes()).hexdigest()
        return {
            "method": self.description,
            "train_size": len(self.y_train),
            "test_size": len(self.y_test),
            "test_index_sha256": digest,
        }


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 UCI digits as ([N, 1, 8, 8] float32 in [0, 1], [N] int64)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / DIGITS_MAX).astype(np.float32)[:, None, :, :]
    return images, bunch.target.astype(np.int64)


def split_indices(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split: the same seed gives the same indices on every machine."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    train, test = train_test_split(index, test_size=test_fraction, stratify=labels, random_state=seed)
    return np.sort(train), np.sort(test)


def split_arrays(images: np.ndarray, labels: np.ndarray, test_fraction: float, seed: int, what: str) -> ImageSplit:
    train, test = split_indices(labels, test_fraction, seed)
    description = f"{what}: stratified train_test_split(test_size={test_fraction}, random_state={seed})"
    return ImageSplit(images[train], labels[train], images[test], labels[test], test, description)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (MNIST format), plain or gzipped, into a numpy array."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (magic bytes {raw[:4]!r})")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_TYPES[code])
    expected = int(np.prod(dims)) * dtype.itemsize
    body = raw[4 + 4 * ndim :]
    if len(body) != expected:
        raise ValueError(f"{path}: header promises {expected} bytes of data, found {len(body)}")
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped when the name ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    data = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    Path(path).write_bytes(gzip.compress(data) if str(path).endswith(".gz") else data)


def area_resize(images: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """Box-average [N, H, W] images down to size x size.

    load_digits itself was made this way (32x32 bitmaps counted in 4x4 blocks),
    so area averaging is the resize that matches the training data. Images are
    zero-padded (dark background) to a multiple of `size` first.
    """
    n, h, w = images.shape
    side = int(np.ceil(max(h, w) / size) * size)
    canvas = np.zeros((n, side, side), dtype=np.float64)
    top, left = (side - h) // 2, (side - w) // 2
    canvas[:, top : top + h, left : left + w] = images
    block = side // size
    return canvas.reshape(n, size, block, size, block).mean(axis=(2, 4))


def load_idx_images(images_path: str | Path, labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Users' own digits in IDX format -> ([N, 1, 8, 8] float32 in [0, 1], [N] int64).

    MNIST stores bright ink on a dark background like load_digits, so no
    inversion is needed; pixels are scaled by the dtype's maximum (255 for ubyte).
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path).astype(np.int64).reshape(-1)
    if images.ndim != 3:
        raise ValueError(f"{images_path}: expected [N, H, W] images, got shape {images.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    scale = 255.0 if images.dtype == np.uint8 else max(float(images.max()), 1.0)
    small = area_resize(images.astype(np.float64) / scale)
    return small.astype(np.float32)[:, None, :, :], labels


def load_image_data(spec: str | None, test_fraction: float, seed: int) -> ImageSplit:
    """`None` -> UCI digits; `idx:<images>,<labels>` -> the user's IDX files."""
    if spec is None or spec == "digits":
        images, labels = load_digits_arrays()
        return split_arrays(images, labels, test_fraction, seed, "sklearn load_digits")
    kind, _, rest = spec.partition(":")
    if kind != "idx" or "," not in rest:
        raise ValueError(f"--data must be 'digits' or 'idx:<images>,<labels>', got {spec!r}")
    images_path, labels_path = rest.split(",", 1)
    images, labels = load_idx_images(images_path, labels_path)
    return split_arrays(images, labels, test_fraction, seed, f"IDX {Path(images_path).name}")


def add_noise(images: np.ndarray, std: float, seed: int) -> np.ndarray:
    """Gaussian pixel noise, clipped back to [0, 1] (the denoiser's corruption)."""
    rng = np.random.default_rng(seed)
    return np.clip(images + rng.normal(0.0, std, images.shape), 0.0, 1.0).astype(np.float32)
