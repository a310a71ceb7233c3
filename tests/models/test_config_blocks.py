"""What the training code writes into config.json passes the service's typed blocks, and is what is committed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models import train_denoiser, train_vowels
from models.encoding import CharVocab
from models.train_digits import digits_config
from service.core.config_blocks import (
    ImagePostprocessing,
    ImagePreprocessing,
    SequencePreprocessing,
    TextPreprocessing,
)

REPOSITORY = Path(__file__).resolve().parents[2] / "models" / "repository"


def committed(name: str) -> dict:
    return json.loads((REPOSITORY / name / "config.json").read_text())


@pytest.mark.parametrize("name", ["digits_lenet", "digits_resnet"])
def test_digits_blocks(name):
    written = digits_config(name, "", 10)["preprocessing"]
    assert ImagePreprocessing.model_validate(written).scale == pytest.approx(1 / 255)
    assert written == committed(name)["preprocessing"]


def test_denoiser_blocks():
    assert ImagePreprocessing.model_validate(train_denoiser.PREPROCESSING).invert == "auto"
    assert ImagePostprocessing.model_validate(train_denoiser.POSTPROCESSING).output == "reconstruction"
    assert committed("digits_denoiser")["preprocessing"] == train_denoiser.PREPROCESSING
    assert committed("digits_denoiser")["postprocessing"] == train_denoiser.POSTPROCESSING


@pytest.mark.parametrize("name", ["vowels_lstm", "vowels_gru"])
def test_vowels_blocks(name):
    assert SequencePreprocessing.model_validate(train_vowels.PREPROCESSING).lengths_input == "lengths"
    assert committed(name)["preprocessing"] == train_vowels.PREPROCESSING


def test_text_block():
    written = CharVocab(["a", "b"], max_length=16).to_config()
    block = TextPreprocessing.model_validate(written)
    assert block.vocab == ["<pad>", "<unk>", "<cls>", "a", "b"] and block.max_length == 16
    assert set(written) == set(committed("langid_transformer")["preprocessing"])
