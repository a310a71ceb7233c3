"""The friendly description of a model, and feeds as Open Inference Protocol tensors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from service.core.config import ModelConfig
from service.core.settings import DEFAULT_REPOSITORY
from service.friendly.catalog import describe, oip_inputs
from tests.service.friendly_models import image_autoencoder, sequence_classifier, text_attention


def config(build) -> ModelConfig:
    return ModelConfig.model_validate(build()[0])


def test_text_model_with_attention():
    found = describe(config(text_attention))
    assert (found["kind"], found["attention_output"]) == ("text", "attentions")
    assert found["input"] == {"tokens_input": None, "mask_input": None, "max_length": 16, "vocab_size": 9,
                              "lowercase": False, "truncation": "right"}
    assert found["output"]["threshold"] == 0.5 and found["labels"] == ["en", "fr", "de", "ru"]


def test_image_out_and_sequence_in():
    assert describe(config(image_autoencoder))["output"]["type"] == "image"
    sequence = describe(config(sequence_classifier))
    assert sequence["input"] == {"name": "frames", "channels": 12, "min_length": 1, "max_length": 50,
                                 "lengths_input": "lengths"}


def test_a_model_without_preprocessing_is_raw_tensors():
    raw = ModelConfig.model_validate({"name": "raw", "input": [{"name": "x", "datatype": "FP32", "dims": [4]}],
                                      "output": [{"name": "y", "datatype": "FP32", "dims": [4]}]})
    found = describe(raw)
    assert (found["kind"], found["input"], found["attention_output"]) == (None, None, None)


@pytest.mark.parametrize("name, kind, output", [
    ("digits_lenet", "image", "labels"), ("digits_denoiser", "image", "image"),
    ("vowels_lstm", "sequence", "labels"), ("langid_transformer", "text", "labels"),
])
def test_reference_models(name, kind, output):
    path = DEFAULT_REPOSITORY / name / "config.json"
    if not path.is_file():
        pytest.skip(f"{name} is not in models/repository")
    found = describe(ModelConfig.model_validate(json.loads(path.read_text(encoding="utf-8"))))
    assert (found["kind"], found["output"]["type"]) == (kind, output)


def test_oip_inputs_keep_shape_datatype_and_order():
    feeds = {"mask": np.ones((1, 3), np.int64), "tokens": np.array([[2, 3, 4]], np.int64)}
    tensors = [{**t, "data": t["data"].tolist()} for t in oip_inputs(config(text_attention), feeds)]
    assert tensors == [{"name": "tokens", "shape": [1, 3], "datatype": "INT64", "data": [2, 3, 4]},
                       {"name": "mask", "shape": [1, 3], "datatype": "INT64", "data": [1, 1, 1]}]


def test_oip_inputs_keep_float32_values_exact():
    (tensor,) = oip_inputs(config(image_autoencoder), {"image": np.full((1, 1, 8, 8), 0.1, np.float32)})
    assert tensor["data"].dtype == np.float32 and tensor["datatype"] == "FP32"
