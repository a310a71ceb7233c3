"""The one core call of every front door (protocol/execute.py), against a real repository of tiny models."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from service.core.errors import ClientDisconnected, InvalidInput, NotFound, PayloadTooLarge
from service.core.metrics import Metrics
from service.core.repository import ModelRepository
from service.core.request import InferRequest
from service.core.settings import Settings
from service.protocol.execute import Answer, answer_infer, run_inference
from tests.tiny_models import AFFINE_CONFIG, _save, affine_graph, write_model

X = {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}


@pytest.fixture
async def repo(tmp_path):
    """affine only (version 1: offset 1, version 2: offset 10), no warmup: loads in milliseconds."""
    root = tmp_path / "repo"
    write_model(root, AFFINE_CONFIG, affine_graph(offset=1.0), versions=(1,))
    _save(affine_graph(offset=10.0), root / "affine" / "2" / "model.onnx")
    repository = ModelRepository(Settings(repository=root, warmup=False), Metrics())
    await repository.load_all()
    yield repository
    await repository.close()


async def passthrough(work):
    return await work


def infer(repo, body: bytes, length: str | None = None, version: str | None = None, guard=passthrough):
    return answer_infer(repo, "affine", version, body, length, max_depth=32, guard=guard)


async def test_run_inference_answers_with_the_latest_version_its_outputs_and_datatypes(repo):
    x = np.array([[1, 2, 3, 4]], np.float32)
    answer = await run_inference(repo, InferRequest("affine", None, {"x": x}))
    assert isinstance(answer, Answer)
    assert (answer.model_name, answer.model_version) == ("affine", "2")
    assert sorted(answer.outputs) == ["y", "z"]
    np.testing.assert_array_equal(answer.outputs["y"], [[12, 14, 16, 18]])
    np.testing.assert_array_equal(answer.outputs["z"], [[2, 4, 6, 8]])
    assert answer.outputs["y"].dtype == np.float32
    assert answer.datatypes == {"y": "FP32", "z": "FP32"}


async def test_run_inference_on_a_named_version(repo):
    answer = await run_inference(repo, InferRequest("affine", "1", {"x": np.zeros((2, 4), np.float32)}))
    assert answer.model_version == "1"
    np.testing.assert_array_equal(answer.outputs["y"], np.ones((2, 4)))


async def test_run_inference_fetches_only_the_outputs_asked_for(repo):
    answer = await run_inference(repo, InferRequest("affine", None, {"x": np.ones((1, 4), np.float32)}, frozenset({"z"})))
    assert sorted(answer.outputs) == ["z"]
    np.testing.assert_array_equal(answer.outputs["z"], [[2, 2, 2, 2]])


async def test_a_json_body_gets_a_json_answer_and_no_header_length(repo):
    body, length = await infer(repo, orjson.dumps({"id": "r1", "inputs": [X]}))
    assert length is None
    assert orjson.loads(body) == {
        "model_name": "affine", "model_version": "2", "id": "r1",
        "outputs": [
            {"name": "y", "datatype": "FP32", "shape": [1, 4], "data": [12.0, 14.0, 16.0, 18.0]},
            {"name": "z", "datatype": "FP32", "shape": [1, 4], "data": [2.0, 4.0, 6.0, 8.0]},
        ],
    }


async def test_a_named_version_and_one_requested_output(repo):
    body, length = await infer(repo, orjson.dumps({"inputs": [X], "outputs": [{"name": "y"}]}), version="1")
    assert length is None
    assert orjson.loads(body) == {
        "model_name": "affine", "model_version": "1",
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [1, 4], "data": [3.0, 5.0, 7.0, 9.0]}],
    }


async def test_a_binary_body_gets_a_binary_answer_with_the_json_header_length(repo):
    x = np.array([[1, 2, 3, 4]], "<f4")
    header = orjson.dumps({
        "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}],
        "outputs": [{"name": "z", "parameters": {"binary_data": True}}, {"name": "y"}],
    })
    body, length = await infer(repo, header + x.tobytes(), str(len(header)))
    assert isinstance(length, int)
    doc = orjson.loads(body[:length])
    assert doc == {
        "model_name": "affine", "model_version": "2",
        "outputs": [
            {"name": "z", "datatype": "FP32", "shape": [1, 4], "parameters": {"binary_data_size": 16}},
            {"name": "y", "datatype": "FP32", "shape": [1, 4], "data": [12.0, 14.0, 16.0, 18.0]},
        ],
    }
    assert len(body) == length + 16
    assert np.frombuffer(body[length:], "<f4").tolist() == [2.0, 4.0, 6.0, 8.0]


async def test_binary_data_output_makes_every_output_binary_in_order(repo):
    body, length = await infer(repo, orjson.dumps({"inputs": [X], "parameters": {"binary_data_output": True}}))
    assert length is not None
    outputs = orjson.loads(body[:length])["outputs"]
    assert [(o["name"], o["parameters"]) for o in outputs] == [
        ("y", {"binary_data_size": 16}), ("z", {"binary_data_size": 16}),
    ]
    assert np.frombuffer(body[length:], "<f4").tolist() == [12, 14, 16, 18, 2, 4, 6, 8]


async def test_the_guard_is_awaited_around_the_work_and_its_answer_is_encoded(repo):
    events: list[str] = []

    async def guard(work):
        events.append("enter")
        answer = await work
        events.append(f"answer {answer.model_version}")
        # What the guard returns is what gets encoded: it really sits around the work.
        return Answer(answer.model_name, "guarded", answer.outputs, answer.datatypes)

    body, _ = await infer(repo, orjson.dumps({"inputs": [X]}), guard=guard)
    assert events == ["enter", "answer 2"]
    assert orjson.loads(body)["model_version"] == "guarded"


async def test_a_guard_that_gives_up_stops_the_work_before_it_runs(repo):
    async def hang_up(work):
        work.close()  # what the disconnect guard does when the client is gone
        raise ClientDisconnected()

    with pytest.raises(ClientDisconnected, match="^client disconnected before the response was ready$"):
        await infer(repo, orjson.dumps({"inputs": [X]}), guard=hang_up)
    (stats,) = repo.metrics.statistics.document([("affine", "2")])["model_stats"]
    assert (stats["inference_count"], stats["inference_stats"]["success"]["count"]) == (0, 0)


async def test_a_core_error_propagates_unchanged_through_the_guard(repo):
    seen: list[BaseException] = []

    async def guard(work):
        try:
            return await work
        except Exception as exc:
            seen.append(exc)
            raise

    bad = orjson.dumps({"inputs": [{**X, "shape": [1, 2], "data": [1, 2]}]})
    with pytest.raises(InvalidInput) as info:
        await infer(repo, bad, guard=guard)
    assert seen == [info.value]
    assert (info.value.model, info.value.input) == ("affine", "x")
    assert info.value.message == "model 'affine', input 'x': expected shape [-1, 4] (-1 = any), got [1, 2]"


async def test_an_unknown_model_raises_not_found_with_the_repositorys_words(repo):
    body = orjson.dumps({"inputs": [X]})
    with pytest.raises(NotFound) as info:
        await answer_infer(repo, "nope", None, body, None, max_depth=32, guard=passthrough)
    assert info.value.message == "unknown model 'nope'; available: ['affine']"
    with pytest.raises(NotFound) as info:
        await infer(repo, body, version="7")
    assert info.value.message == "model 'affine' has no version '7'; versions: [1, 2]"


async def test_a_malformed_body_is_refused_before_the_guard_is_called(repo):
    calls: list[object] = []

    async def guard(work):
        calls.append(work)
        return await work

    with pytest.raises(InvalidInput) as info:
        await infer(repo, b"{oops", guard=guard)
    assert info.value.message.startswith("request body is not valid JSON: ")
    assert calls == []


async def test_max_depth_is_passed_to_the_parser(repo):
    deep = orjson.dumps({"inputs": [X], "parameters": {"a": {"b": {"c": 1}}}})
    with pytest.raises(PayloadTooLarge, match="^JSON nesting depth exceeds the limit of 2$"):
        await answer_infer(repo, "affine", None, deep, None, max_depth=2, guard=passthrough)


async def test_without_a_guard_the_work_is_awaited_directly(repo):
    body, length = await answer_infer(repo, "affine", "1", orjson.dumps({"inputs": [X]}), None, max_depth=32)
    assert length is None
    assert orjson.loads(body)["outputs"][0]["data"] == [3.0, 5.0, 7.0, 9.0]
