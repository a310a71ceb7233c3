from __future__ import annotations

import json

import pytest

from service.core.config import ModelConfig, VersionPolicy, load_model_config
from service.core.errors import ConfigError
from tests.tiny_models import AFFINE_CONFIG, SEQUENCE_CONFIG


def write(tmp_path, name, doc):
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return d


def test_loads_a_valid_config(tmp_path):
    config = load_model_config(write(tmp_path, "sequence", SEQUENCE_CONFIG))
    assert config.max_batch_size == 16
    assert config.input_spec("frames").axis_names == ["time", None]
    assert config.output_spec("doubled").variable


def test_missing_config_names_the_model(tmp_path):
    (tmp_path / "ghost").mkdir()
    with pytest.raises(ConfigError, match="model 'ghost': missing config.json"):
        load_model_config(tmp_path / "ghost")


def test_unreadable_json(tmp_path):
    with pytest.raises(ConfigError, match="model 'bad': unreadable config.json"):
        load_model_config(write(tmp_path, "bad", "{not json"))


def test_unknown_datatype_names_field_and_value(tmp_path):
    doc = dict(AFFINE_CONFIG, input=[{"name": "x", "datatype": "FLOAT", "dims": [4]}])
    with pytest.raises(ConfigError, match=r"input\.0\.datatype: .*got 'FLOAT'"):
        load_model_config(write(tmp_path, "affine", doc))


def test_folder_and_name_must_agree(tmp_path):
    with pytest.raises(ConfigError, match="config name must equal the folder name 'other', got 'affine'"):
        load_model_config(write(tmp_path, "other", AFFINE_CONFIG))


def test_named_axis_must_be_variable():
    doc = dict(SEQUENCE_CONFIG)
    doc["input"] = [{"name": "frames", "datatype": "FP32", "dims": [5, 3], "axis_names": ["time", None]}]
    with pytest.raises(ValueError, match="axis 'time' is named but its dim is 5"):
        ModelConfig.model_validate(doc)


def test_output_axis_must_come_from_an_input():
    doc = dict(SEQUENCE_CONFIG)
    doc["output"] = [{"name": "doubled", "datatype": "FP32", "dims": [-1, 3], "axis_names": ["seq", None]}]
    with pytest.raises(ValueError, match=r"names axes \['seq'\] that no input declares"):
        ModelConfig.model_validate(doc)


def test_warmup_sizes_bounded_by_max_batch():
    doc = dict(AFFINE_CONFIG, warmup={"batch_sizes": [1, 64]})
    with pytest.raises(ValueError, match=r"warmup batch sizes \[64\] exceed max_batch_size 8"):
        ModelConfig.model_validate(doc)


@pytest.mark.parametrize(
    "policy, expected",
    [({}, [1, 2, 5]), ({"latest": 1}, [5]), ({"latest": 2}, [2, 5]), ({"specific": [1, 5, 9]}, [1, 5])],
)
def test_version_policy(policy, expected):
    assert VersionPolicy.model_validate(policy).select([5, 1, 2]) == expected


def test_length_buckets_must_ascend(tmp_path):
    doc = dict(AFFINE_CONFIG, dynamic_batching={"length_buckets": [32, 16]})
    with pytest.raises(ConfigError, match=r"dynamic_batching\.length_buckets: .*must be strictly ascending, got \[32, 16\]"):
        load_model_config(write(tmp_path, "affine", doc))


def test_tensor_api_checks_is_triton_unless_a_model_asks_for_strict(tmp_path):
    assert load_model_config(write(tmp_path, "affine", AFFINE_CONFIG)).tensor_api_checks == "triton"
    (tmp_path / "s").mkdir()
    (tmp_path / "b").mkdir()
    strict = load_model_config(write(tmp_path / "s", "affine", {**AFFINE_CONFIG, "tensor_api_checks": "strict"}))
    assert strict.tensor_api_checks == "strict"
    with pytest.raises(ConfigError, match=r"tensor_api_checks: Input should be 'triton' or 'strict'"):
        load_model_config(write(tmp_path / "b", "affine", {**AFFINE_CONFIG, "tensor_api_checks": "lenient"}))
