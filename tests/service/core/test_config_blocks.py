from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.core.config import ModelConfig, load_model_config
from service.core.config_blocks import (
    ClassificationPostprocessing,
    ImagePostprocessing,
    ImagePreprocessing,
    SequencePreprocessing,
    TextPreprocessing,
)
from service.core.errors import ConfigError
from service.core.metrics import Metrics
from service.core.repository import ModelRepository
from service.core.settings import Settings

REFERENCE = Path(__file__).resolve().parents[3] / "models" / "repository"
BASE = {"name": "m", "input": [{"name": "x", "datatype": "FP32", "dims": [1, 8, 8]}],
        "output": [{"name": "y", "datatype": "FP32", "dims": [3]}]}


def config(**blocks: object) -> ModelConfig:
    return ModelConfig.model_validate({**BASE, **blocks})


@pytest.mark.parametrize("block, kind", [
    ({"type": "image", "height": 8}, ImagePreprocessing),
    ({"type": "sequence", "channels": 12}, SequencePreprocessing),
    ({"type": "chars", "vocab": ["<pad>", "a"]}, TextPreprocessing),
    ({"type": "text"}, TextPreprocessing),
])
def test_the_type_picks_the_preprocessing_model(block, kind):
    assert type(config(preprocessing=block).preprocessing) is kind


def test_no_preprocessing_and_default_postprocessing():
    plain = config(preprocessing={}, postprocessing={})
    assert plain.preprocessing is None
    assert plain.postprocessing == ClassificationPostprocessing(type="none")
    assert config(postprocessing={"top_k": 3}).postprocessing.top_k == 3  # no type: classification
    assert type(config(postprocessing={"type": "image"}).postprocessing) is ImagePostprocessing


def test_boolean_invert_means_always_or_never():
    assert config(preprocessing={"type": "image", "invert": True}).preprocessing.invert == "always"
    assert config(preprocessing={"type": "image", "invert": False}).preprocessing.invert == "never"


@pytest.mark.parametrize("raw, message", [
    ({"preprocessing": {"type": "chars", "mask": "ones"}}, "preprocessing.chars.mask: unknown key"),
    ({"postprocessing": {"type": "none", "treshold": 0.5}}, "postprocessing.none.treshold: unknown key"),
    ({"preprocessing": {"type": "image", "scale": {"uint8": 0.1}}}, "preprocessing.image.scale: Input should be a valid number"),
    ({"preprocessing": {"type": "images"}}, "preprocessing: Input tag 'images' found using 'type' does not match"),
    ({"preprocessing": {"type": "sequence", "mean": [0.0]}}, "mean and std go together"),
    ({"postprocessing": {"type": "image", "value_range": [1, 0]}}, "value_range must be increasing, got [1.0, 0.0]"),
    ({"preprocessing": {"type": "sequence", "lengths_input": "lenghts"}},
     "preprocessing.lengths_input 'lenghts' is not an input; expected one of ['x']"),
    ({"preprocessing": {"type": "chars", "mask_input": "mask"}}, "preprocessing.mask_input 'mask' is not an input"),
    ({"postprocessing": {"type": "none", "attention_output": "attn"}},
     "postprocessing.attention_output 'attn' is not an output; expected one of ['y']"),
])
def test_a_bad_block_fails_at_load_naming_the_key(tmp_path, raw, message):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**BASE, **raw}))
    with pytest.raises(ConfigError) as caught:
        load_model_config(folder)
    assert caught.value.message.startswith("model 'm': invalid config.json: ")
    assert message in caught.value.message


async def test_a_misspelled_key_makes_the_model_unavailable_with_the_key_named(tiny_repo):
    path = tiny_repo / "affine" / "config.json"
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, "postprocessing": {"type": "none", "top-k": 3}}))
    repo = ModelRepository(Settings(repository=tiny_repo), Metrics())
    await repo.load_all()
    row = next(r for r in repo.index() if r["name"] == "affine")
    assert row["state"] == "UNAVAILABLE"
    assert row["reason"] == "invalid config.json: postprocessing.none.top-k: unknown key"
    await repo.close()


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in REFERENCE.glob("*/config.json")))
def test_reference_configs_carry_only_keys_the_server_reads(folder):
    loaded = load_model_config(REFERENCE / folder)
    assert loaded.preprocessing is not None
    raw = json.loads((REFERENCE / folder / "config.json").read_text())
    # Every key written is a field of the typed block (extra="forbid" already guarantees it; this names them).
    assert set(raw["preprocessing"]) <= set(type(loaded.preprocessing).model_fields)
    assert set(raw["postprocessing"]) <= set(type(loaded.postprocessing).model_fields)
