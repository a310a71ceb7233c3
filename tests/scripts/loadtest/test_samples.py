"""Real held-out data is picked from the config; synthetic only as a labelled fallback."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scripts.loadtest.samples import load_samples, model_kind

ROOT = Path(__file__).resolve().parents[3]

IMAGE = {"name": "digits", "input": [{"name": "image", "datatype": "FP32", "dims": [1, 8, 8]}],
         "output": [{"name": "probabilities", "datatype": "FP32", "dims": [10]}]}
SEQUENCE = {"name": "vowels", "input": [{"name": "frames", "datatype": "FP32", "dims": [-1, 12]},
                                        {"name": "lengths", "datatype": "INT64", "dims": []}],
            "output": [{"name": "probabilities", "datatype": "FP32", "dims": [9]}]}
TEXT = {"name": "lang", "input": [{"name": "tokens", "datatype": "INT64", "dims": [-1]},
                                  {"name": "mask", "datatype": "INT64", "dims": [-1]}],
        "output": [{"name": "probabilities", "datatype": "FP32", "dims": [2]}],
        "preprocessing": {"type": "chars", "vocab": ["<pad>", "<unk>", "<cls>", "a", "b"], "pad_id": 0,
                          "unk_id": 1, "cls_id": 2, "max_length": 16}}
OTHER = {"name": "affine", "input": [{"name": "x", "datatype": "FP32", "dims": [4]}],
         "output": [{"name": "y", "datatype": "FP32", "dims": [4]}], "warmup": {"sequence_length": 5}}


@pytest.mark.parametrize("config,kind", [(IMAGE, "image"), (SEQUENCE, "sequence"), (TEXT, "text"), (OTHER, "tensor")])
def test_kind_is_read_from_the_declared_inputs(config, kind):
    assert model_kind(config) == kind


def test_digits_are_the_held_out_last_fifth_in_unit_range():
    samples = load_samples(IMAGE)
    assert (samples.kind, len(samples.items), samples.synthetic) == ("image", 360, False)
    batch = samples.encode(samples.items[:4])["image"]
    assert batch.shape == (4, 1, 8, 8) and batch.dtype == np.float32
    assert batch.min() >= 0.0 and batch.max() <= 1.0


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="scikit-learn not installed")
def test_vendored_digits_are_exactly_sklearns_last_fifth():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    expected = (bunch.images[int(len(bunch.images) * 0.8) :] / 16.0).astype(np.float32)
    np.testing.assert_array_equal(np.stack(load_samples(IMAGE).items)[:, 0], expected)


def test_samples_need_only_what_the_service_installs():
    # scikit-learn, babel and the training code are blocked: the client must still find real data.
    code = ("import sys; [sys.modules.__setitem__(m, None) for m in ('sklearn', 'babel', 'models', 'torch')]; "
            "from scripts.loadtest.samples import load_samples; "
            f"image = load_samples({IMAGE!r}); text = load_samples({TEXT!r}); "
            "print(len(image.items), image.synthetic, len(text.items), text.synthetic)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["360", "False", "800", "False"]


@pytest.mark.skipif(importlib.util.find_spec("aeon") is None, reason="aeon wheel (Japanese Vowels files) not installed")
def test_vowels_test_set_is_padded_with_lengths():
    samples = load_samples(SEQUENCE)
    assert len(samples.items) == 370
    items = samples.items[:3]
    out = samples.encode(items)
    assert out["frames"].shape == (3, max(len(s) for s in items), 12)
    np.testing.assert_array_equal(out["lengths"], [len(s) for s in items])


def test_text_is_tokenised_with_the_configs_vocabulary():
    samples = load_samples(TEXT)
    assert samples.kind == "text" and len(samples.items) == 800 and not samples.synthetic
    assert "Dieses Feld darf nicht leer sein." in samples.items
    out = samples.encode(["ab", "b?a"])
    np.testing.assert_array_equal(out["tokens"], [[3, 4, 0], [4, 1, 3]])
    np.testing.assert_array_equal(out["mask"], [[1, 1, 0], [1, 1, 1]])


def test_text_tokens_match_the_service_tokenizer():
    from service.core.config import ModelConfig
    from service.friendly.preprocess import tokenize

    config = {**TEXT, "preprocessing": {**TEXT["preprocessing"], "lowercase": True, "max_length": 3}}
    model = ModelConfig.model_validate(config)
    encode = load_samples(config).encode
    for text in ["AB", "ba?a", "B"]:
        row = encode([text])["tokens"][0].tolist()
        assert row == tokenize(model, text, "text", 100).ids


def test_no_matching_dataset_gives_labelled_synthetic_data():
    samples = load_samples(OTHER)
    assert samples.synthetic and "SYNTHETIC" in samples.source
    assert samples.encode(samples.items[:3])["x"].shape == (3, 4)
    digits_shaped_but_wrong_size = {**IMAGE, "input": [{"name": "image", "datatype": "FP32", "dims": [1, 28, 28]}]}
    assert load_samples(digits_shaped_but_wrong_size).synthetic


def test_input_files_npy_npz_and_png_directory(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(12, dtype=np.float32).reshape(3, 4))
    assert load_samples(OTHER, tmp_path / "x.npy").encode([{"x": np.zeros(4)}])["x"].shape == (1, 4)
    np.savez(tmp_path / "v.npz", frames=np.ones((2, 5, 12), np.float32), lengths=np.array([5, 3]))
    npz = load_samples(SEQUENCE, tmp_path / "v.npz")
    assert npz.encode(npz.items)["lengths"].tolist() == [5, 3]
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(pngs / "a.png")
    images = load_samples(IMAGE, pngs)
    assert images.encode(images.items)["image"].shape == (1, 1, 8, 8)  # box-resized to the model's size
    assert images.encode(images.items)["image"].min() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="PNG images"):
        load_samples(TEXT, pngs)


def test_inputs_named_by_preprocessing_and_service_side_normalisation_are_honoured():
    config = {
        "name": "v", "preprocessing": {"type": "sequence", "input": "x", "lengths_input": "n", "mean": [1.0] * 12,
                                       "std": [2.0] * 12},
        "input": [{"name": "n", "datatype": "INT32", "dims": [1]}, {"name": "x", "datatype": "FP32", "dims": [-1, 12]}],
        "output": [{"name": "p", "datatype": "FP32", "dims": [9]}],
    }
    encode = load_samples(config, seed=0).encode if importlib.util.find_spec("aeon") else None
    if encode is None:
        pytest.skip("aeon wheel not installed")
    out = encode([np.full((2, 12), 3.0, np.float32), np.full((1, 12), 5.0, np.float32)])
    np.testing.assert_array_equal(out["n"], [[2], [1]])
    assert out["n"].dtype == np.int32
    np.testing.assert_array_equal(out["x"][:, :, 0], [[1.0, 1.0], [2.0, 0.0]])  # normalised, padding left at 0
