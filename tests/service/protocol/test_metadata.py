"""Server and model metadata documents (protocol/metadata.py), from a real repository of tiny models."""

from __future__ import annotations

import pytest

from service import __version__
from service.core.errors import NotFound
from service.core.metrics import Metrics
from service.core.repository import ModelRepository
from service.core.settings import Settings
from service.protocol.metadata import EXTENSIONS, model_metadata, server_metadata
from tests.tiny_models import AFFINE_CONFIG, _save, affine_graph, write_model

# The affine graph served without batching: its symbolic batch axis takes the declared dims as they are.
PLAIN_CONFIG = {
    "name": "plain",
    "description": "no batch axis",
    "input": [{"name": "x", "datatype": "FP32", "dims": [3, 4]}],
    "output": [{"name": "y", "datatype": "FP32", "dims": [3, 4]}, {"name": "z", "datatype": "FP32", "dims": [3, 4]}],
}
AFFINE_TENSORS = {
    "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
    "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 4]}, {"name": "z", "datatype": "FP32", "shape": [-1, 4]}],
}
CPU = {"provider": "CPUExecutionProvider", "providers": ["CPUExecutionProvider"]}


@pytest.fixture
async def repo(tmp_path):
    """affine 1 and 2 ready, 3 broken; plain (unbatched); broken (unreadable config)."""
    root = tmp_path / "repo"
    write_model(root, AFFINE_CONFIG, affine_graph(), versions=(1, 2))
    (root / "affine" / "3").mkdir()
    (root / "affine" / "3" / "model.onnx").write_bytes(b"garbage")
    write_model(root, PLAIN_CONFIG, affine_graph())
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("{")
    _save(affine_graph(), root / "broken" / "1" / "model.onnx")
    repository = ModelRepository(Settings(repository=root, warmup=False), Metrics())
    await repository.load_all()
    yield repository
    await repository.close()


def test_server_metadata_names_the_server_its_version_and_extensions():
    assert server_metadata() == {
        "name": "ortserve",
        "version": __version__,
        "extensions": [
            "binary_tensor_data", "model_repository", "model_configuration", "statistics",
            "friendly_endpoints", "metrics", "trace",
        ],
    }
    assert server_metadata()["extensions"] is EXTENSIONS


async def test_model_metadata_describes_the_latest_ready_version(repo):
    assert model_metadata(repo, "affine") == {
        "name": "affine",
        "versions": ["1", "2", "3"],
        "platform": "onnx_onnxv1",
        **AFFINE_TENSORS,
        "state": "READY",
        "reason": "",
        "version": "2",
        **CPU,
        "max_batch_size": 8,
        "labels": ["a", "b", "c", "d"],
        "description": "",
    }


async def test_a_named_ready_version(repo):
    doc = model_metadata(repo, "affine", "1")
    assert (doc["version"], doc["state"], doc["reason"], doc["versions"]) == ("1", "READY", "", ["1", "2", "3"])


async def test_a_named_broken_version_reports_its_state_and_reason(repo):
    doc = model_metadata(repo, "affine", "3")
    assert doc["version"] == "3"
    assert doc["state"] == "UNAVAILABLE"
    assert doc["reason"].startswith("cannot load model.onnx: ")  # the model is named beside it
    assert "/tmp/" not in doc["reason"] and "affine/3/model.onnx" in doc["reason"]  # no server path leaks
    assert (doc["provider"], doc["providers"]) == (None, [])
    assert doc["inputs"] == AFFINE_TENSORS["inputs"]  # the config still says what it would take


async def test_an_unbatched_model_has_no_batch_axis_in_its_shapes(repo):
    doc = model_metadata(repo, "plain")
    assert doc["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [3, 4]}]
    assert doc["outputs"] == [
        {"name": "y", "datatype": "FP32", "shape": [3, 4]}, {"name": "z", "datatype": "FP32", "shape": [3, 4]},
    ]
    assert (doc["max_batch_size"], doc["labels"], doc["description"]) == (0, [], "no batch axis")


async def test_a_model_without_a_readable_config_has_no_tensors_and_says_why(repo):
    doc = model_metadata(repo, "broken")
    reason = doc.pop("reason")
    assert doc == {
        "name": "broken", "versions": [], "platform": "onnx_onnxv1", "inputs": [], "outputs": [],
        "state": "UNAVAILABLE",
    }
    assert reason.startswith("unreadable config.json: ")


async def test_an_unloaded_model_reports_unloaded_with_the_reason(repo):
    await repo.unload("plain")
    doc = model_metadata(repo, "plain")
    assert (doc["state"], doc["reason"], doc["versions"]) == ("UNLOADED", "unloaded by an admin", [])
    assert "version" not in doc
    assert doc["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [3, 4]}]


async def test_unknown_models_and_versions_raise_not_found_with_exact_words(repo):
    with pytest.raises(NotFound) as info:
        model_metadata(repo, "nope")
    assert info.value.message == "unknown model 'nope'; available: ['affine', 'broken', 'plain']"
    with pytest.raises(NotFound) as info:
        model_metadata(repo, "affine", "7")
    assert info.value.message == "model 'affine' has no version '7'; versions: [1, 2, 3]"
    with pytest.raises(NotFound) as info:
        model_metadata(repo, "affine", "two")
    assert info.value.message == "model 'affine' has no version 'two'; versions: [1, 2, 3]"
    with pytest.raises(NotFound) as info:
        model_metadata(repo, "../etc")
    assert info.value.message.startswith("model name '../etc' is not valid; names match ")
