"""Tiny ONNX models built with onnx.helper, with outputs known in closed form.

Fixtures for the serving core's tests: they load in milliseconds and their
results can be checked exactly, unlike the trained reference models.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=OPSET, ir_version=8)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def affine_graph(scale: float = 2.0, offset: float = 1.0) -> onnx.GraphProto:
    """y = x * scale + offset and z = x + x, on x of shape [batch, 4]."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 4])
    consts = [
        helper.make_tensor("scale", TensorProto.FLOAT, [], [scale]),
        helper.make_tensor("offset", TensorProto.FLOAT, [], [offset]),
    ]
    nodes = [
        helper.make_node("Mul", ["x", "scale"], ["xs"]),
        helper.make_node("Add", ["xs", "offset"], ["y"]),
        helper.make_node("Add", ["x", "x"], ["z"]),
    ]
    return helper.make_graph(nodes, "affine", [x], [y, z], initializer=consts)


def sequence_graph(width: int = 768, layers: int = 4) -> onnx.GraphProto:
    """frames [batch, time, 3], lengths [batch] -> total = sum over time, doubled = 2 * frames,
    twice_lengths = 2 * lengths, energy = sum of a tanh MLP over every frame.

    Zero padding leaves `total` and `energy` unchanged (tanh(0 @ W) = 0), as a masked
    model would. The MLP makes each execution take milliseconds, so concurrent
    requests really queue and batches form in end-to-end tests."""
    frames = helper.make_tensor_value_info("frames", TensorProto.FLOAT, ["batch", "time", 3])
    lengths = helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"])
    total = helper.make_tensor_value_info("total", TensorProto.FLOAT, ["batch", 3])
    doubled = helper.make_tensor_value_info("doubled", TensorProto.FLOAT, ["batch", "time", 3])
    twice = helper.make_tensor_value_info("twice_lengths", TensorProto.INT64, ["batch"])
    consts = [
        helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        helper.make_tensor("two_f", TensorProto.FLOAT, [], [2.0]),
        helper.make_tensor("two_i", TensorProto.INT64, [], [2]),
    ]
    energy = helper.make_tensor_value_info("energy", TensorProto.FLOAT, ["batch"])
    rng = np.random.default_rng(0)  # fixture weights, not a trained model
    consts += [
        numpy_helper.from_array((rng.normal(size=(3, width)) * 0.5).astype(np.float32), "w_in"),
        numpy_helper.from_array((rng.normal(size=(width, width)) / np.sqrt(width)).astype(np.float32), "w_hidden"),
        helper.make_tensor("all_axes", TensorProto.INT64, [2], [1, 2]),
    ]
    nodes = [
        helper.make_node("ReduceSum", ["frames", "axes"], ["total"], keepdims=0),
        helper.make_node("Mul", ["frames", "two_f"], ["doubled"]),
        helper.make_node("Mul", ["lengths", "two_i"], ["twice_lengths"]),
        helper.make_node("MatMul", ["frames", "w_in"], ["h0_lin"]),
        helper.make_node("Tanh", ["h0_lin"], ["h0"]),
    ]
    for i in range(layers):
        nodes += [
            helper.make_node("MatMul", [f"h{i}", "w_hidden"], [f"h{i + 1}_lin"]),
            helper.make_node("Tanh", [f"h{i + 1}_lin"], [f"h{i + 1}"]),
        ]
    nodes.append(helper.make_node("ReduceSum", [f"h{layers}", "all_axes"], ["energy"], keepdims=0))
    return helper.make_graph(
        nodes, "sequence", [frames, lengths], [total, doubled, twice, energy], initializer=consts
    )


def text_graph() -> onnx.GraphProto:
    """echo = text, a real ONNX string tensor (BYTES on the wire), [batch, words]."""
    text = helper.make_tensor_value_info("text", TensorProto.STRING, ["batch", "words"])
    echo = helper.make_tensor_value_info("echo", TensorProto.STRING, ["batch", "words"])
    return helper.make_graph([helper.make_node("Identity", ["text"], ["echo"])], "text", [text], [echo])


EMBEDDING = np.arange(20, dtype=np.float32).reshape(10, 2)
EMBEDDING[0] = 0.0  # the pad id adds nothing, so padding never changes a sum


def embed_graph() -> onnx.GraphProto:
    """sum = sum over seq of EMBEDDING[tokens]: ids 0..9; any other id makes ORT's Gather fail."""
    tokens = helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "seq"])
    total = helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch", 2])
    nodes = [
        helper.make_node("Gather", ["table", "tokens"], ["vectors"]),
        helper.make_node("ReduceSum", ["vectors", "seq_axis"], ["sum"], keepdims=0),
    ]
    consts = [numpy_helper.from_array(EMBEDDING, "table"), helper.make_tensor("seq_axis", TensorProto.INT64, [1], [1])]
    return helper.make_graph(nodes, "embed", [tokens], [total], initializer=consts)


TEXT_CONFIG = {
    "name": "text",
    "max_batch_size": 8,
    "input": [{"name": "text", "datatype": "BYTES", "dims": [-1], "axis_names": ["words"]}],
    "output": [{"name": "echo", "datatype": "BYTES", "dims": [-1], "axis_names": ["words"]}],
}

# No value constraint: an id past the table reaches ORT and fails the batch (batch isolation tests).
EMBED_CONFIG = {
    "name": "embed",
    "max_batch_size": 64,
    "dynamic_batching": {"max_queue_delay_microseconds": 20000},
    "input": [{"name": "tokens", "datatype": "INT64", "dims": [-1], "axis_names": ["seq"], "pad_value": 0}],
    "output": [{"name": "sum", "datatype": "FP32", "dims": [2]}],
}
# The same model with its id range declared: bad ids are refused before queueing.
EMBED_CHECKED_CONFIG = {
    **EMBED_CONFIG,
    "name": "embed_checked",
    "input": [{**EMBED_CONFIG["input"][0], "value_range": [0, 9]}],
}


AFFINE_CONFIG = {
    "name": "affine",
    "max_batch_size": 8,
    "dynamic_batching": {"max_queue_delay_microseconds": 2000, "max_queue_size": 64},
    "input": [{"name": "x", "datatype": "FP32", "dims": [4]}],
    "output": [{"name": "y", "datatype": "FP32", "dims": [4]}, {"name": "z", "datatype": "FP32", "dims": [4]}],
    "warmup": {"batch_sizes": [1, 8]},
    "labels": ["a", "b", "c", "d"],
}

SEQUENCE_CONFIG = {
    "name": "sequence",
    "max_batch_size": 16,
    "input": [
        {"name": "frames", "datatype": "FP32", "dims": [-1, 3], "axis_names": ["time", None], "pad_value": 0.0},
        {"name": "lengths", "datatype": "INT64", "dims": []},
    ],
    "output": [
        {"name": "total", "datatype": "FP32", "dims": [3]},
        {"name": "doubled", "datatype": "FP32", "dims": [-1, 3], "axis_names": ["time", None]},
        {"name": "twice_lengths", "datatype": "INT64", "dims": []},
        {"name": "energy", "datatype": "FP32", "dims": []},
    ],
    "warmup": {"batch_sizes": [1, 4], "sequence_length": 5},
}


def write_model(repo: Path, config: dict, graph: onnx.GraphProto, versions: tuple[int, ...] = (1,)) -> Path:
    model_dir = repo / config["name"]
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.json").write_text(json.dumps(config, indent=2))
    for v in versions:
        _save(graph, model_dir / str(v) / "model.onnx")
    return model_dir


def make_repository(root: Path) -> Path:
    """affine (versions 1 and 2: offset 1 and 10) and sequence."""
    write_model(root, AFFINE_CONFIG, affine_graph(offset=1.0), versions=(1,))
    _save(affine_graph(offset=10.0), root / "affine" / "2" / "model.onnx")
    write_model(root, SEQUENCE_CONFIG, sequence_graph())
    return root


def make_mixed_repository(root: Path) -> Path:
    """text (BYTES in and out), embed (ids unchecked) and embed_checked (ids in [0, 9])."""
    write_model(root, TEXT_CONFIG, text_graph())
    write_model(root, EMBED_CONFIG, embed_graph())
    write_model(root, EMBED_CHECKED_CONFIG, embed_graph())
    return root
