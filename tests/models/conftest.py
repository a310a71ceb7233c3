from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models import results
from models.data_images import write_idx


@pytest.fixture(autouse=True)
def process_float_mode():
    """Training turns on flush-to-zero for speed, process-wide; restore IEEE subnormals
    afterwards so tests that run later in the same process (hypothesis draws subnormal
    floats) see ordinary arithmetic."""
    yield
    import torch

    torch.set_flush_denormal(False)


@pytest.fixture
def isolated_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run records and RESULTS.md go to a temporary folder, never over the committed ones."""
    folder = tmp_path / "results"
    monkeypatch.setattr(results, "RESULTS_DIR", folder)
    monkeypatch.setattr(results, "REPORT", tmp_path / "RESULTS.md")
    return folder


@pytest.fixture
def idx_files(tmp_path: Path) -> tuple[Path, Path]:
    """A tiny MNIST-like IDX pair (28x28 uint8, gzipped images): a bright bar whose position is the class."""
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(3, dtype=np.uint8), 20)
    images = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i, 4:24, 6 + 7 * label : 10 + 7 * label] = 200 + rng.integers(0, 55)
    write_idx(tmp_path / "images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "labels-idx1-ubyte", labels)
    return tmp_path / "images-idx3-ubyte.gz", tmp_path / "labels-idx1-ubyte"


@pytest.fixture
def text_csv(tmp_path: Path) -> Path:
    """A tiny `text,labels` CSV: three 'languages' with distinct alphabets, one shared string."""
    rows = ["text,labels"]
    for i in range(30):
        rows.append(f"{'ab'[i % 2] * (2 + i % 5)}{'ba'[i % 2]},xx")
        rows.append(f"{'cd'[i % 2] * (2 + i % 5)}{'dc'[i % 2]},yy")
        rows.append(f"{'ef'[i % 2] * (2 + i % 5)}{'fe'[i % 2]},zz")
    rows.append("shared,xx|yy")
    path = tmp_path / "langs.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def serve():
    """Load a model directory exactly as the server does: config schema, then graph validation."""
    from service.core.config import load_model_config
    from service.core.runtime import OrtRuntime
    from service.core.settings import Settings

    def load(model_dir: Path) -> OrtRuntime:
        config = load_model_config(model_dir)
        return OrtRuntime(model_dir / "1" / "model.onnx", config, Settings(provider="cpu", intra_op_threads=1))

    return load
