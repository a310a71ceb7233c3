"""Triton's model-configuration and statistics documents (protocol/extensions.py) from a real repository."""

from __future__ import annotations

import numpy as np
import pytest

from service.core.errors import ModelUnavailable, NotFound
from service.core.metrics import Metrics
from service.core.repository import ModelRepository
from service.core.request import InferRequest
from service.core.settings import Settings
from service.protocol.extensions import model_config_document, statistics_document
from tests.tiny_models import AFFINE_CONFIG, TEXT_CONFIG, _save, affine_graph, text_graph, write_model

PLAIN_CONFIG = {
    "name": "plain",
    "input": [{"name": "x", "datatype": "FP32", "dims": [3, 4]}],
    "output": [{"name": "y", "datatype": "FP32", "dims": [3, 4]}, {"name": "z", "datatype": "FP32", "dims": [3, 4]}],
}
ZERO = {"count": 0, "ns": 0}
DURATIONS = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output", "cache_hit", "cache_miss")


async def load(root, **settings) -> ModelRepository:
    repository = ModelRepository(Settings(repository=root, warmup=False, **settings), Metrics())
    await repository.load_all()
    return repository


@pytest.fixture
async def repo(tmp_path):
    """affine 1 and 2 ready, 3 broken; text (BYTES); plain (unbatched); broken (unreadable config)."""
    root = tmp_path / "repo"
    write_model(root, {**AFFINE_CONFIG, "dynamic_batching": {"max_queue_size": 64, "instance_count": 2}},
                affine_graph(), versions=(1, 2))
    (root / "affine" / "3").mkdir()
    (root / "affine" / "3" / "model.onnx").write_bytes(b"garbage")
    write_model(root, TEXT_CONFIG, text_graph())
    write_model(root, PLAIN_CONFIG, affine_graph())
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("{")
    _save(affine_graph(), root / "broken" / "1" / "model.onnx")
    repository = await load(root, default_timeout_s=2.5)
    yield repository
    await repository.close()


async def test_model_config_of_a_batched_model(repo):
    assert model_config_document(repo, "affine") == {
        "name": "affine",
        "platform": "onnx_onnxv1",
        "backend": "onnxruntime",
        "version_policy": {"all": {}},
        "max_batch_size": 8,
        "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [4]}],
        "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [4]}, {"name": "z", "data_type": "TYPE_FP32", "dims": [4]}],
        "instance_group": [{"name": "affine_0", "kind": "KIND_CPU", "count": 2}],
        "dynamic_batching": {
            "max_queue_delay_microseconds": 500,
            "default_queue_policy": {"max_queue_size": 64, "default_timeout_microseconds": 2_500_000},
        },
    }


async def test_bytes_is_triton_type_string(repo):
    doc = model_config_document(repo, "text")
    assert doc["input"] == [{"name": "text", "data_type": "TYPE_STRING", "dims": [-1]}]
    assert doc["output"] == [{"name": "echo", "data_type": "TYPE_STRING", "dims": [-1]}]


async def test_an_unbatched_model_has_no_dynamic_batching_block(repo):
    doc = model_config_document(repo, "plain")
    assert doc["max_batch_size"] == 0
    assert "dynamic_batching" not in doc
    assert doc["input"] == [{"name": "x", "data_type": "TYPE_FP32", "dims": [3, 4]}]
    assert doc["instance_group"] == [{"name": "plain_0", "kind": "KIND_CPU", "count": 1}]


@pytest.mark.parametrize("policy, document", [
    ({"latest": 1}, {"latest": {"num_versions": 1}}),
    ({"specific": [1, 3]}, {"specific": {"versions": [1, 3]}}),
    ({}, {"all": {}}),
])
async def test_version_policy_in_tritons_form(tmp_path, policy, document):
    write_model(tmp_path / "r", {**PLAIN_CONFIG, "version_policy": policy}, affine_graph())
    repository = await load(tmp_path / "r")
    assert model_config_document(repository, "plain")["version_policy"] == document
    await repository.close()


async def test_a_named_broken_version_still_has_its_config(repo):
    doc = model_config_document(repo, "affine", "3")
    assert doc["name"] == "affine" and doc["max_batch_size"] == 8
    assert doc["instance_group"] == [{"name": "affine_0", "kind": "KIND_CPU", "count": 2}]


async def test_an_unloaded_model_still_has_its_config(repo):
    await repo.unload("plain")
    assert model_config_document(repo, "plain")["input"] == [{"name": "x", "data_type": "TYPE_FP32", "dims": [3, 4]}]


async def test_model_config_errors(repo):
    with pytest.raises(NotFound) as info:
        model_config_document(repo, "nope")
    assert info.value.message == "unknown model 'nope'; available: ['affine', 'broken', 'plain', 'text']"
    with pytest.raises(NotFound) as info:
        model_config_document(repo, "affine", "9")
    assert info.value.message == "model 'affine' has no version '9'; versions: [1, 2, 3]"
    with pytest.raises(ModelUnavailable) as info:
        model_config_document(repo, "broken")
    assert info.value.message.startswith("model 'broken' is UNAVAILABLE: unreadable config.json: ")  # named once


async def test_statistics_of_every_ready_version_start_at_zero(repo):
    doc = statistics_document(repo, repo.metrics.statistics)
    assert [(s["name"], s["version"]) for s in doc["model_stats"]] == [
        ("affine", "1"), ("affine", "2"), ("plain", "1"), ("text", "1"),
    ]
    assert doc["model_stats"][0] == {
        "name": "affine", "version": "1", "last_inference": 0, "inference_count": 0, "execution_count": 0,
        "inference_stats": dict.fromkeys(DURATIONS, ZERO),
        "batch_stats": [], "memory_usage": [],
    }


async def test_statistics_of_one_model_and_of_one_version(repo):
    one_model = statistics_document(repo, repo.metrics.statistics, "affine")["model_stats"]
    assert [s["version"] for s in one_model] == ["1", "2"]
    (one,) = statistics_document(repo, repo.metrics.statistics, "affine", "2")["model_stats"]
    assert (one["name"], one["version"]) == ("affine", "2")
    assert statistics_document(repo, repo.metrics.statistics, "broken") == {"model_stats": []}


async def test_statistics_count_what_ran(repo):
    await repo.infer(InferRequest("affine", "1", {"x": np.zeros((3, 4), np.float32)}))
    (stats,) = statistics_document(repo, repo.metrics.statistics, "affine", "1")["model_stats"]
    assert (stats["inference_count"], stats["execution_count"]) == (3, 1)
    assert stats["last_inference"] > 0
    inference = stats["inference_stats"]
    assert (inference["success"]["count"], inference["fail"]["count"], inference["queue"]["count"]) == (1, 0, 1)
    assert [(b["batch_size"], b["compute_infer"]["count"]) for b in stats["batch_stats"]] == [(3, 1)]
    (other,) = statistics_document(repo, repo.metrics.statistics, "affine", "2")["model_stats"]
    assert other["inference_count"] == 0


async def test_statistics_errors(repo):
    with pytest.raises(ModelUnavailable) as info:
        statistics_document(repo, repo.metrics.statistics, "affine", "3")
    assert info.value.message.startswith("model 'affine' version 3 is UNAVAILABLE: ")
    with pytest.raises(NotFound) as info:
        statistics_document(repo, repo.metrics.statistics, "nope")
    assert info.value.message == "unknown model 'nope'; available: ['affine', 'broken', 'plain', 'text']"
    with pytest.raises(NotFound) as info:
        statistics_document(repo, repo.metrics.statistics, "affine", "0")
    assert info.value.message == "model 'affine' has no version '0'; versions: [1, 2, 3]"
