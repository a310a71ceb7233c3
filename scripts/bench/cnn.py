"""The benchmark model: a ResNet-style CNN on 1x28x28 with about 300k parameters.

Only speed is measured, so the weights are seeded random numbers (He-scaled, so
activations stay finite) and the graph is written with onnx.helper: no torch, no
training. It is about the size of a small MNIST ResNet: ORT spends roughly 1 ms
per item on one core, enough that serving overhead shows against a real model.

    stem    conv 3x3, 1 -> 32                      28x28
    block   2 x conv 3x3, 32 -> 32, + skip         28x28
    down    conv 3x3 stride 2, 32 -> 64            14x14
    block   2 x conv 3x3, 64 -> 64, + skip         14x14
    down    conv 3x3 stride 2, 64 -> 88            7x7
    block   2 x conv 3x3, 88 -> 88, + skip         7x7
    head    global average pool, linear 88 -> 10
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NAME = "bench_cnn"
CLASSES = 10
MAX_BATCH = 64


class _Graph:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self.parameters = 0

    def _param(self, name: str, array: np.ndarray) -> str:
        self.weights.append(numpy_helper.from_array(array.astype(np.float32), name))
        self.parameters += array.size
        return name

    def conv(self, x: str, cin: int, cout: int, name: str, stride: int = 1, relu: bool = True) -> str:
        w = self.rng.normal(0.0, np.sqrt(2.0 / (cin * 9)), (cout, cin, 3, 3))
        b = np.zeros(cout)
        out = f"{name}_out"
        self.nodes.append(helper.make_node(
            "Conv", [x, self._param(f"{name}_w", w), self._param(f"{name}_b", b)], [out],
            kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride],
        ))
        if not relu:
            return out
        self.nodes.append(helper.make_node("Relu", [out], [f"{name}_relu"]))
        return f"{name}_relu"

    def block(self, x: str, channels: int, name: str) -> str:
        h = self.conv(x, channels, channels, f"{name}_a")
        h = self.conv(h, channels, channels, f"{name}_b", relu=False)
        self.nodes.append(helper.make_node("Add", [h, x], [f"{name}_sum"]))
        self.nodes.append(helper.make_node("Relu", [f"{name}_sum"], [f"{name}_out"]))
        return f"{name}_out"


def build(seed: int = 0) -> tuple[onnx.ModelProto, int]:
    """(the ONNX model, its parameter count)."""
    g = _Graph(seed)
    h = g.conv("image", 1, 32, "stem")
    h = g.block(h, 32, "block1")
    h = g.conv(h, 32, 64, "down1", stride=2)
    h = g.block(h, 64, "block2")
    h = g.conv(h, 64, 88, "down2", stride=2)
    h = g.block(h, 88, "block3")
    g.nodes.append(helper.make_node("GlobalAveragePool", [h], ["pooled"]))
    g.nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], axis=1))
    w = g.rng.normal(0.0, np.sqrt(1.0 / 88), (88, CLASSES))
    g.nodes.append(helper.make_node(
        "Gemm", ["features", g._param("fc_w", w), g._param("fc_b", np.zeros(CLASSES))], ["logits"]))
    graph = helper.make_graph(
        g.nodes, NAME,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])],
        initializer=g.weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, g.parameters


def config(parameters: int) -> dict:
    return {
        "name": NAME,
        "platform": "onnx_onnxv1",
        "description": f"Benchmark only: ResNet-style CNN on 1x28x28, {parameters:,} seeded random parameters",
        "max_batch_size": MAX_BATCH,
        "dynamic_batching": {"max_queue_delay_microseconds": 500, "max_queue_size": 1024, "instance_count": 1},
        "input": [{"name": "image", "datatype": "FP32", "dims": [1, 28, 28]}],
        "output": [{"name": "logits", "datatype": "FP32", "dims": [CLASSES]}],
        "warmup": {"batch_sizes": [1, 8, MAX_BATCH]},
    }


def write_model(repository: Path, seed: int = 0) -> Path:
    """Write `<repository>/bench_cnn/{config.json, 1/model.onnx}`; return the model folder."""
    model, parameters = build(seed)
    folder = Path(repository) / NAME
    (folder / "1").mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "1" / "model.onnx"))
    (folder / "config.json").write_text(json.dumps(config(parameters), indent=2) + "\n")
    return folder


def overlay_repository(reference: Path, target: Path, seed: int = 0) -> Path:
    """A repository at `target`: links to every model of `reference`, plus the benchmark CNN."""
    target.mkdir(parents=True, exist_ok=True)
    for model in sorted(Path(reference).iterdir()):
        link = target / model.name
        if (model / "config.json").is_file() and model.name != NAME and not link.exists():
            link.symlink_to(model.resolve(), target_is_directory=True)
    write_model(target, seed)
    return target
