"""A model repository for end-to-end runs of the load-test client and the benchmark.

Besides the serving core's tiny fixtures (affine, sequence) it holds `digits`,
a one-layer softmax over [1, 8, 8] images: shaped like the reference digit
classifiers, so the client feeds it real load_digits images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.tiny_models import make_repository, write_model

DIGITS_CONFIG = {
    "name": "digits",
    "max_batch_size": 64,
    "dynamic_batching": {"max_queue_delay_microseconds": 500, "max_queue_size": 1024},
    "input": [{"name": "image", "datatype": "FP32", "dims": [1, 8, 8]}],
    "output": [{"name": "probabilities", "datatype": "FP32", "dims": [10]}],
    "warmup": {"batch_sizes": [1, 64]},
    "labels": [str(d) for d in range(10)],
    "preprocessing": {"type": "image"},  # uploads: 8-bit grey, scaled to [0, 1], dark background
}


def digits_graph():
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 8, 8])
    probabilities = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])
    weights = numpy_helper.from_array(np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32), "w")
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    return helper.make_graph(nodes, "digits", [image], [probabilities], initializer=[weights])


@pytest.fixture(scope="session")
def served_repo(tmp_path_factory) -> Path:
    root = make_repository(tmp_path_factory.mktemp("served") / "repo")
    write_model(root, DIGITS_CONFIG, digits_graph())
    return root
