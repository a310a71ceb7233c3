"""The response cache inside the repository: hits answered before queueing, Triton's statistics
and metrics, invalidation on load and unload, the settings that turn it on or refuse it."""

from __future__ import annotations

import asyncio
import json
import threading

import numpy as np
import pytest

from service.core.metrics import Metrics
from service.core.repository import ModelRepository, State
from service.core.request import InferRequest
from service.core.settings import Settings
from tests.tiny_models import AFFINE_CONFIG, TEXT_CONFIG, _save, affine_graph, text_graph, write_model

CACHED = {**AFFINE_CONFIG, "response_cache": {"enable": True}}


def x(value: float) -> dict:
    return {"x": np.full((1, 4), value, np.float32)}


@pytest.fixture
async def repo(tmp_path):
    write_model(tmp_path, CACHED, affine_graph(offset=1.0))
    write_model(tmp_path, {**TEXT_CONFIG, "response_cache": {"enable": True}}, text_graph())
    repository = ModelRepository(Settings(repository=tmp_path, warmup=False), Metrics())
    await repository.load_all()
    yield repository
    await repository.close()


def stats(repo: ModelRepository, model: str = "affine") -> dict:
    return repo.metrics.statistics.document([(model, "1")])["model_stats"][0]


async def test_a_repeated_request_is_answered_from_the_cache(repo):
    _, first = await repo.infer(InferRequest("affine", None, x(1.0)))
    _, second = await repo.infer(InferRequest("affine", None, x(1.0)))
    np.testing.assert_allclose(second.outputs["y"], [[3.0] * 4])
    assert second.outputs["y"] is first.outputs["y"]  # the stored answer, not a recomputation
    assert second.batch_rows == 0 and second.compute_s == 0.0
    doc = stats(repo)
    inference = doc["inference_stats"]
    assert inference["cache_hit"]["count"] == 1 and inference["cache_hit"]["ns"] > 0
    assert inference["cache_miss"]["count"] == 1 and inference["cache_miss"]["ns"] > 0
    # Triton's accounting: hits count as successes and in the queue, never as computations.
    assert inference["success"]["count"] == 2 and inference["queue"]["count"] == 2
    assert inference["compute_infer"]["count"] == 1 and inference["compute_input"]["count"] == 1
    assert doc["inference_count"] == 1 and doc["execution_count"] == 1
    assert len(repo.cache) == 1


async def test_metrics_use_tritons_cache_names(repo):
    for value in (1.0, 1.0, 1.0, 2.0):
        await repo.infer(InferRequest("affine", None, x(value)))
    text = repo.metrics.render().decode()
    assert 'nv_cache_num_hits_per_model{model="affine",version="1"} 2\n' in text
    assert 'nv_cache_num_misses_per_model{model="affine",version="1"} 2\n' in text
    assert "# TYPE nv_cache_hit_duration_per_model counter" in text
    assert "# TYPE nv_cache_miss_duration_per_model counter" in text
    hit_us = float(text.split('nv_cache_hit_duration_per_model{model="affine",version="1"} ')[1].split()[0])
    assert hit_us == stats(repo)["inference_stats"]["cache_hit"]["ns"] / 1000
    assert f"ortserve_response_cache_entries {float(len(repo.cache))}" in text
    assert f"ortserve_response_cache_bytes {float(repo.cache.bytes)}" in text
    assert "ortserve_response_cache_limit_bytes 6.7108864e+07" in text


async def test_inputs_and_requested_outputs_make_separate_entries(repo):
    await repo.infer(InferRequest("affine", None, x(1.0)))
    _, only_z = await repo.infer(InferRequest("affine", None, x(1.0), frozenset({"z"})))
    assert set(only_z.outputs) == {"z"}
    await repo.infer(InferRequest("affine", None, x(2.0)))
    assert len(repo.cache) == 3 and stats(repo)["inference_stats"]["cache_hit"]["count"] == 0


async def test_text_answers_are_cached_too(repo):
    words = {"text": np.array([["hello", "world"]], dtype=object)}
    await repo.infer(InferRequest("text", None, words))
    _, hit = await repo.infer(InferRequest("text", None, {"text": np.array([[b"hello", b"world"]], dtype=object)}))
    assert hit.outputs["echo"].tolist() == [["hello", "world"]]
    assert stats(repo, "text")["inference_stats"]["cache_hit"]["count"] == 1


async def test_a_hit_never_waits_behind_a_running_batch(repo):
    await repo.infer(InferRequest("affine", None, x(1.0)))  # now cached
    mv = repo.get("affine")
    started, release = threading.Event(), threading.Event()
    run = mv.batcher._execute  # the runtime call the batcher makes (in its executor thread)

    def blocked(*args):
        started.set()
        release.wait(10)
        return run(*args)

    mv.batcher._execute = blocked
    try:
        running = asyncio.create_task(repo.infer(InferRequest("affine", None, x(7.0))))
        assert await asyncio.to_thread(started.wait, 10)
        queued = asyncio.create_task(repo.infer(InferRequest("affine", None, x(8.0))))  # waits for the batch
        _, hit = await asyncio.wait_for(repo.infer(InferRequest("affine", None, x(1.0))), 2)
        np.testing.assert_allclose(hit.outputs["y"], [[3.0] * 4])
        assert not running.done() and not queued.done()
    finally:
        release.set()
    await asyncio.gather(running, queued)


async def test_load_and_unload_invalidate_the_models_answers(repo, tmp_path):
    await repo.infer(InferRequest("affine", None, x(1.0)))
    await repo.infer(InferRequest("text", None, {"text": np.array([["a"]], dtype=object)}))
    _save(affine_graph(offset=100.0), tmp_path / "affine" / "1" / "model.onnx")  # version 1 replaced
    await repo.load("affine")
    assert len(repo.cache) == 1  # only text's answer is left
    _, result = await repo.infer(InferRequest("affine", None, x(1.0)))
    np.testing.assert_allclose(result.outputs["y"], [[102.0] * 4])  # the new version's answer
    await repo.unload("affine")
    assert len(repo.cache) == 1


async def test_off_without_the_config_key_or_with_a_zero_limit(tmp_path):
    write_model(tmp_path, AFFINE_CONFIG, affine_graph())
    write_model(tmp_path / "b", CACHED, affine_graph())
    for root, limit in ((tmp_path, 1 << 20), (tmp_path / "b", 0)):
        repository = ModelRepository(Settings(repository=root, warmup=False, response_cache_bytes=limit), Metrics())
        await repository.load_all()
        for _ in range(2):
            await repository.infer(InferRequest("affine", None, x(1.0)))
        inference = repository.metrics.statistics.document([("affine", "1")])["model_stats"][0]["inference_stats"]
        assert inference["cache_hit"] == inference["cache_miss"] == {"count": 0, "ns": 0}
        assert len(repository.cache) == 0
        await repository.close()


async def test_a_non_deterministic_model_refuses_the_cache_at_load(tmp_path):
    write_model(tmp_path, {**CACHED, "deterministic": False}, affine_graph())
    repository = ModelRepository(Settings(repository=tmp_path, warmup=False), Metrics())
    await repository.load_all()
    entry = repository.models["affine"]
    assert entry.state is State.UNAVAILABLE
    assert entry.reason == (
        "invalid config.json: <root>: Value error, response_cache.enable is true but the model is "
        "marked non-deterministic (deterministic: false): the same input may get another answer, so a cached one "
        "would be wrong; remove one of the two")
    assert json.loads((tmp_path / "affine" / "config.json").read_text())["deterministic"] is False
    await repository.close()
