"""The shipped held-out utterances: really from the test split, and offered to the models they fit."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from service.core.config import ModelConfig
from service.friendly.samples import samples_for, vowels
from tests.service.friendly_models import image_classifier, sequence_classifier


def test_every_speaker_is_there_with_its_source():
    sample = vowels()
    assert sorted({item["label"] for item in sample.items}) == [f"speaker_{i}" for i in range(1, 10)]
    assert sample.licence == "CC BY 4.0" and sample.url.startswith("https://archive.ics.uci.edu/")
    assert all(7 <= len(item["frames"]) <= 29 and {len(f) for f in item["frames"]} == {12} for item in sample.items)


@pytest.mark.skipif(importlib.util.find_spec("aeon") is None, reason="aeon's data files are not installed")
def test_items_are_the_test_files_utterances_they_name():
    from models.data_vowels import load_vowels

    test = load_vowels("test")
    for item in vowels().items:
        np.testing.assert_allclose(item["frames"], test.sequences[item["index"]], atol=5e-7)
        assert item["label"] == f"speaker_{test.labels[item['index']] + 1}"


def test_offered_by_channel_count_not_by_name():
    sequence, _ = sequence_classifier()
    assert samples_for(ModelConfig.model_validate(sequence)) is vowels()
    other = {**sequence, "name": "other", "preprocessing": {**sequence["preprocessing"], "channels": 13},
             "input": [{**sequence["input"][0], "dims": [-1, 13]}, sequence["input"][1]]}
    assert samples_for(ModelConfig.model_validate(other)) is None
    image, _ = image_classifier()
    assert samples_for(ModelConfig.model_validate(image)) is None
