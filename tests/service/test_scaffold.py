"""`python -m service.scaffold`: a repository entry from an ONNX file, config read from the graph."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import onnxruntime.datasets
import pytest
from onnx import TensorProto, helper

from scripts.launcher import ServerProcess
from service.core.config import load_model_config
from service.core.errors import ConfigError
from service.scaffold import infer_config, main, model_name, read_graph, scaffold, to_json
from tests.tiny_models import _save


def graph_file(tmp_path: Path, x_shape: list, y_shape: list, name: str = "m.onnx") -> Path:
    """y = x + x, with the given (symbolic or fixed) shapes."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "twice", [x], [y])
    return _save(graph, tmp_path / name)


def test_symbolic_axis_0_becomes_dynamic_batching(tmp_path):
    config, notes = infer_config(read_graph(graph_file(tmp_path, ["n", 3, "t"], ["n", 3, "t"])), "twice")
    assert config["max_batch_size"] == 64 and config["dynamic_batching"]["max_queue_size"] == 1024
    assert config["input"] == [{"name": "x", "datatype": "FP32", "dims": [3, -1]}]
    assert config["output"] == [{"name": "y", "datatype": "FP32", "dims": [3, -1]}]
    assert any("axis_names" in note for note in notes)  # the variable axis is not padded unless named


def test_fixed_axis_0_means_no_batching(tmp_path):
    config, notes = infer_config(read_graph(graph_file(tmp_path, [2, 3], [2, 3])), "twice")
    assert config["max_batch_size"] == 0 and "dynamic_batching" not in config
    assert config["input"][0]["dims"] == [2, 3] and any("run alone" in note for note in notes)


def test_max_batch_size_zero_keeps_the_batch_axis_in_the_dims(tmp_path):
    config, _ = infer_config(read_graph(graph_file(tmp_path, ["n", 3], ["n", 3])), "twice", max_batch_size=0)
    assert config["max_batch_size"] == 0 and config["input"][0]["dims"] == [-1, 3]


def test_non_tensor_outputs_are_left_out_with_a_note(tmp_path):
    iris = Path(onnxruntime.datasets.get_example("logreg_iris.onnx"))
    loaded, notes = scaffold(iris, tmp_path / "repo", "iris")
    assert [s.name for s in loaded.output] == ["label"]
    assert notes[0] == ("output 'probabilities' left out: seq(map(int64,tensor(float))) is not a tensor "
                        "the protocol can carry")


def test_written_entry_loads_as_the_server_loads_it(tmp_path):
    source = graph_file(tmp_path, ["batch", 4], ["batch", 4])
    loaded, _ = scaffold(source, tmp_path / "repo")
    entry = tmp_path / "repo" / "m"
    assert loaded == load_model_config(entry) and loaded.batched
    assert (entry / "1" / "model.onnx").read_bytes() == source.read_bytes()
    provenance = json.loads((entry / "config.json").read_text())["provenance"]
    assert provenance["source"] == str(source) and len(provenance["sha256"]) == 64


def test_refuses_to_overwrite_unless_forced(tmp_path):
    source = graph_file(tmp_path, ["batch", 4], ["batch", 4])
    scaffold(source, tmp_path / "repo")
    with pytest.raises(ConfigError, match="config.json exists; pass --force"):
        scaffold(source, tmp_path / "repo")
    assert scaffold(source, tmp_path / "repo", force=True)[0].name == "m"


def test_bad_inputs_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        scaffold(tmp_path / "missing.onnx", tmp_path / "repo")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="ONNX Runtime cannot load it"):
        scaffold(tmp_path / "junk.onnx", tmp_path / "repo")
    with pytest.raises(ConfigError, match="--name '-x'"):
        scaffold(graph_file(tmp_path, [2], [2]), tmp_path / "repo", "-x")


def test_names_from_file_names():
    assert model_name(Path("my model (v2).onnx")) == "my_model__v2_"
    assert model_name(Path("_.onnx")) == "model"


def test_lists_of_values_stay_on_one_line():
    assert to_json({"dims": [-1, 12], "names": ["a", "b"]}) == '{\n  "dims": [-1, 12],\n  "names": ["a", "b"]\n}\n'


def test_cli_reports_and_exits_2_on_errors(tmp_path, capsys):
    source = graph_file(tmp_path, ["batch", 4], ["batch", 4], "Twice.onnx")
    assert main([str(source), "--repository", str(tmp_path / "repo"), "--max-batch-size", "8"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'repo' / 'Twice' / 'config.json'}" in out and "dynamic batching up to 8" in out
    assert main([str(source), "--repository", str(tmp_path / "repo")]) == 2
    assert "exists; pass --force" in capsys.readouterr().err


@pytest.mark.slow
def test_serves_a_fixed_shape_model_from_onnxruntimes_wheel(tmp_path):
    done = subprocess.run([sys.executable, "-m", "service.scaffold", onnxruntime.datasets.get_example("sigmoid.onnx"),
                           "--repository", str(tmp_path)], capture_output=True, text=True, check=True)
    assert "input  x: FP32 [3, 4, 5]" in done.stdout
    x = np.linspace(-3, 3, 60, dtype=np.float32)
    with ServerProcess(tmp_path) as server:
        body = {"inputs": [{"name": "x", "shape": [3, 4, 5], "datatype": "FP32", "data": x.tolist()}]}
        answer = httpx.post(f"{server.url}/v2/models/sigmoid/infer", json=body).json()
    np.testing.assert_allclose(answer["outputs"][0]["data"], 1 / (1 + np.exp(-x.astype(np.float64))), rtol=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("magika") is None, reason="magika (dev extra) is not installed")
def test_serves_magika_with_dynamic_batching(tmp_path):
    """Google's file-type model from the magika wheel: scaffolded, labelled by hand as a user would, served."""
    import magika

    shipped = Path(magika.__file__).parent / "models" / "standard_v3_3"
    loaded, _ = scaffold(shipped / "model.onnx", tmp_path, "magika")
    assert (loaded.max_batch_size, loaded.input[0].datatype, loaded.input[0].dims) == (64, "INT32", [2048])
    settings = json.loads((shipped / "config.min.json").read_text())
    path = tmp_path / "magika" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "labels": settings["target_labels_space"]}))

    def features(content: bytes) -> list[int]:  # magika's own: first and last 1024 bytes, stripped, padded
        begin = content[: settings["block_size"]].lstrip()[: settings["beg_size"]]
        end = content[-settings["block_size"] :].rstrip()[-settings["end_size"] :]
        pad = settings["padding_token"]
        return [*begin, *[pad] * (settings["beg_size"] - len(begin)), *[pad] * (settings["end_size"] - len(end)), *end]

    files = [Path(json.__file__), Path(__file__).parents[2] / "README.md"]
    batch = np.array([features(f.read_bytes()) for f in files], np.int32)
    with ServerProcess(tmp_path) as server:
        body = {"inputs": [{"name": "bytes", "shape": list(batch.shape), "datatype": "INT32", "data": batch.ravel().tolist()}]}
        answer = httpx.post(f"{server.url}/v2/models/magika/infer", json=body).json()
        labels = httpx.get(f"{server.url}/v2/models/magika").json()["labels"]
    scores = np.array(answer["outputs"][0]["data"]).reshape(2, 214)
    assert [labels[i] for i in scores.argmax(axis=1)] == ["python", "markdown"]
    direct = ort.InferenceSession(str(shipped / "model.onnx")).run(None, {"bytes": batch})[0]
    np.testing.assert_allclose(scores, direct, rtol=1e-5, atol=1e-6)
