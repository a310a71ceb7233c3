from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from service.core.errors import InvalidInput, ModelUnavailable, NotFound
from service.core.metrics import Metrics
from service.core.repository import ModelRepository, State
from service.core.request import InferRequest
from service.core.settings import Settings
from tests.tiny_models import _save, affine_graph


async def infer(repo, model, version, inputs):
    return await repo.infer(InferRequest(model, version, inputs))


def repository(root, **settings) -> ModelRepository:
    return ModelRepository(Settings(repository=root, **settings), Metrics())


def x(value: float) -> dict:
    return {"x": np.full((1, 4), value, np.float32)}


async def test_loads_every_model_and_serves_latest_version(tiny_repo):
    repo = repository(tiny_repo)
    await repo.load_all()
    assert repo.ready()
    mv, result = await infer(repo, "affine", None, x(1.0))
    assert mv.version == 2  # latest
    np.testing.assert_allclose(result.outputs["y"], [[12.0] * 4])  # version 2: offset 10
    mv, result = await infer(repo, "affine", "1", x(1.0))
    np.testing.assert_allclose(result.outputs["y"], [[3.0] * 4])
    await repo.close()


async def test_broken_model_is_isolated_with_a_reason(tiny_repo):
    (tiny_repo / "affine" / "2" / "model.onnx").write_bytes(b"garbage")
    (tiny_repo / "sequence" / "config.json").write_text("{")
    repo = repository(tiny_repo)
    await repo.load_all()
    assert repo.ready()  # affine v1 still serves
    rows = {(r["name"], r.get("version")): r for r in repo.index()}
    assert rows[("affine", "2")]["state"] == "UNAVAILABLE"
    assert "cannot load model.onnx" in rows[("affine", "2")]["reason"]
    assert rows[("sequence", None)]["state"] == "UNAVAILABLE"
    assert "unreadable config.json" in rows[("sequence", None)]["reason"]
    mv, _ = await infer(repo, "affine", None, x(0.0))
    assert mv.version == 1  # latest *ready* version
    with pytest.raises(ModelUnavailable, match="model 'affine' version 2 is UNAVAILABLE"):
        repo.get("affine", "2")
    with pytest.raises(ModelUnavailable, match="model 'sequence' is UNAVAILABLE"):
        repo.get("sequence")
    await repo.close()


async def test_a_reason_names_the_model_once_and_each_broken_version(tiny_repo):
    for version in ("1", "2"):
        (tiny_repo / "affine" / version / "model.onnx").write_bytes(b"garbage")
    (tiny_repo / "sequence" / "config.json").write_text("{")
    repo = repository(tiny_repo)
    await repo.load_all()
    with pytest.raises(ModelUnavailable) as info:
        repo.get("affine")
    message = info.value.message
    assert message.startswith("model 'affine' is UNAVAILABLE: version 1: cannot load model.onnx: ")
    assert "; version 2: cannot load model.onnx: " in message and message.count("model 'affine'") == 1
    with pytest.raises(ModelUnavailable) as info:
        repo.get("affine", "2")
    assert info.value.message.startswith("model 'affine' version 2 is UNAVAILABLE: cannot load model.onnx: ")
    with pytest.raises(ModelUnavailable) as info:
        repo.get("sequence")
    assert info.value.message.startswith("model 'sequence' is UNAVAILABLE: unreadable config.json: ")
    await repo.close()


async def test_strict_readiness_fails_on_any_broken_model(tiny_repo):
    (tiny_repo / "sequence" / "1" / "model.onnx").unlink()
    repo = repository(tiny_repo, strict_readiness=True)
    await repo.load_all()
    assert not repo.ready()
    assert "missing model.onnx" in repo.models["sequence"].reason
    await repo.close()


async def test_unknown_names_and_versions(tiny_repo):
    repo = repository(tiny_repo)
    await repo.load_all()
    with pytest.raises(NotFound, match=r"unknown model 'nope'; available: \['affine', 'sequence'\]"):
        repo.get("nope")
    with pytest.raises(NotFound, match=r"model 'affine' has no version '7'; versions: \[1, 2\]"):
        repo.get("affine", "7")
    with pytest.raises(NotFound, match="model name '../etc' is not valid"):
        repo.get("../etc")
    with pytest.raises(NotFound, match="is not in the repository"):
        await repo.load("..")
    await repo.close()


async def test_invalid_input_is_counted_as_failure(tiny_repo):
    repo = repository(tiny_repo)
    await repo.load_all()
    with pytest.raises(InvalidInput):
        await infer(repo, "affine", None, {"x": np.zeros((1, 3), np.float32)})
    text = repo.metrics.render().decode()
    assert 'nv_inference_request_failure{model="affine",version="2",reason="400"} 1\n' in text
    await repo.close()


async def test_reload_warms_new_version_before_switching_and_drains_old(tiny_repo):
    repo = repository(tiny_repo)
    await repo.load_all()
    old = repo.get("affine")
    _save(affine_graph(offset=100.0), tiny_repo / "affine" / "3" / "model.onnx")
    entry = await repo.load("affine")
    assert entry.state is State.READY
    mv, result = await infer(repo, "affine", None, x(0.0))
    assert mv.version == 3
    np.testing.assert_allclose(result.outputs["y"], [[100.0] * 4])
    await asyncio.sleep(0.05)
    assert old.batcher.idle
    await repo.close()


async def test_failed_reload_keeps_serving_previous_load(tiny_repo):
    repo = repository(tiny_repo)
    await repo.load_all()
    (tiny_repo / "affine" / "config.json").write_text(json.dumps({"name": "affine"}))
    with pytest.raises(Exception, match="invalid config.json"):
        await repo.load("affine")
    mv, _ = await infer(repo, "affine", None, x(0.0))
    assert mv.version == 2
    assert "reload failed, still serving the previous load" in repo.models["affine"].reason
    await repo.close()


async def test_unload_then_load(tiny_repo):
    repo = repository(tiny_repo)
    await repo.load_all()
    await repo.unload("sequence")
    with pytest.raises(ModelUnavailable, match="model 'sequence' is UNLOADED: unloaded by an admin"):
        repo.get("sequence")
    await repo.load("sequence")
    assert repo.get("sequence").state is State.READY
    await repo.close()


async def test_tensor_api_floats_are_taken_as_sent_and_counted_unless_the_model_is_strict(tiny_repo):
    from service.core.request import FloatChecks

    repo = repository(tiny_repo)
    await repo.load_all()
    nan = {"x": np.array([[np.nan, 1, 2, 3]], np.float32)}
    _, result = await repo.infer(InferRequest("affine", "1", dict(nan), floats=FloatChecks.TRITON))
    assert np.isnan(result.outputs["y"][0, 0]) and result.outputs["y"][0, 1:].tolist() == [3.0, 5.0, 7.0]
    assert 'ortserve_out_of_range_inputs{model="affine",version="1",input="x"} 1\n' in repo.metrics.render().decode()
    with pytest.raises(InvalidInput, match="NaN or Inf values are not allowed"):
        await repo.infer(InferRequest("affine", "1", dict(nan)))  # a friendly endpoint's request
    config = json.loads((tiny_repo / "affine" / "config.json").read_text())
    (tiny_repo / "affine" / "config.json").write_text(json.dumps({**config, "tensor_api_checks": "strict"}))
    await repo.load("affine")
    with pytest.raises(InvalidInput, match="NaN or Inf values are not allowed"):
        await repo.infer(InferRequest("affine", "1", dict(nan), floats=FloatChecks.TRITON))
    await repo.close()
