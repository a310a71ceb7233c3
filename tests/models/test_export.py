"""Export: dynamo ONNX that matches PyTorch at several batch sizes and lengths, or no publication."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch.export import Dim

from models import export
from models.export import ExportError, base_config, publish, sha256_file, tensor_spec
from models.networks import (
    DenoisingAutoencoder,
    LeNet,
    ResNet,
    SequenceClassifier,
    TextTransformer,
)

torch.manual_seed(0)


def image_config(name, output="probabilities", dims=(10,)):
    return base_config(name, "test", [tensor_spec("image", "FP32", [1, 8, 8])],
                       [tensor_spec(output, "FP32", list(dims))], labels=[], preprocessing={}, postprocessing={})


def publish_image_model(model, tmp_path, name, output="probabilities", dims=(10,)):
    cases = [(torch.rand(n, 1, 8, 8),) for n in (1, 7, 64)]
    return publish(model.eval(), repository=tmp_path, config=image_config(name, output, dims),
                   example=(torch.rand(4, 1, 8, 8),), dynamic_shapes=({0: Dim("batch", min=1, max=4096)},),
                   parity_cases=cases)


@pytest.mark.parametrize("network", [LeNet, ResNet])
def test_cnn_export_matches_pytorch_at_several_batch_sizes(tmp_path, network):
    provenance = publish_image_model(network(), tmp_path, "cnn")
    assert provenance["parity"]["max_abs_diff"] <= 1e-5
    assert [s[0][0] for s in provenance["parity"]["input_shapes"]] == [1, 7, 64]
    path = tmp_path / "cnn" / "1" / "model.onnx"
    assert provenance["onnx"]["sha256"] == sha256_file(path)
    assert not list(path.parent.glob("*.data"))  # one self-contained file
    assert b"networks.py" not in path.read_bytes()  # no stack traces: same bytes on every checkout
    assert ort.InferenceSession(str(path)).get_inputs()[0].shape[0] == "batch"


def test_denoiser_export_matches_pytorch(tmp_path):
    provenance = publish_image_model(DenoisingAutoencoder(), tmp_path, "dae", "reconstruction", (1, 8, 8))
    assert provenance["parity"]["max_abs_diff"] <= 1e-5


def test_lstm_export_has_dynamic_batch_and_time_and_matches_pytorch(tmp_path):
    model = SequenceClassifier(12, 9, hidden=16, bidirectional=True).eval()
    config = base_config(
        "rnn", "test",
        [tensor_spec("frames", "FP32", [-1, 12], axis_names=["time", None], pad_value=0.0),
         tensor_spec("lengths", "INT64", [])],
        [tensor_spec("probabilities", "FP32", [9])], labels=[], preprocessing={}, postprocessing={})

    def case(batch, time):
        return torch.randn(batch, time, 12), torch.randint(1, time + 1, (batch,))

    batch = Dim("batch", min=1, max=4096)
    provenance = publish(model, repository=tmp_path, config=config, example=case(4, 10),
                         dynamic_shapes=({0: batch, 1: Dim("time", min=1, max=4096)}, {0: batch}),
                         parity_cases=[case(1, 3), case(7, 29), case(64, 13)])
    assert provenance["parity"]["max_abs_diff"] <= 1e-5
    shapes = ort.InferenceSession(str(tmp_path / "rnn" / "1" / "model.onnx")).get_inputs()[0].shape
    assert shapes[:2] == ["batch", "time"]


@pytest.mark.parametrize("storage", [None, "fp16", "int8"])
def test_transformer_export_matches_pytorch_at_several_lengths(tmp_path, storage):
    model = TextTransformer(40, 5, dim=32, heads=4, layers=2, max_length=64,
                            hash_buckets=512 if storage else 0, hash_dim=8, ngram_head=bool(storage)).eval()
    if storage:
        model.compact_ngram_table(storage)
    config = base_config(
        "tr", "test",
        [tensor_spec("tokens", "INT64", [-1], axis_names=["seq"], pad_value=0),
         tensor_spec("mask", "INT64", [-1], axis_names=["seq"], pad_value=0)],
        [tensor_spec("probabilities", "FP32", [5]),
         tensor_spec("attentions", "FP32", [2, 4, -1, -1], axis_names=[None, None, "seq", "seq"])],
        labels=[], preprocessing={}, postprocessing={})

    def case(batch, seq):
        mask = (torch.arange(seq)[None, :] < torch.randint(1, seq + 1, (batch, 1))).long()
        return torch.randint(3, 40, (batch, seq)) * mask, mask

    batch, seq = Dim("batch", min=1, max=4096), Dim("seq", min=1, max=64)
    provenance = publish(model, repository=tmp_path, config=config, example=case(4, 12),
                         dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}),
                         parity_cases=[case(1, 5), case(7, 64), case(64, 23)])
    assert provenance["parity"]["max_abs_diff"] <= 1e-5
    path = tmp_path / "tr" / "1" / "model.onnx"
    if storage:  # the n-gram table is stored as it is held: FP16 or INT8, not FP32
        tables = [t for t in onnx.load(str(path)).graph.initializer if list(t.dims) == [512, 8]]
        assert [t.data_type for t in tables] == [{"fp16": onnx.TensorProto.FLOAT16, "int8": onnx.TensorProto.INT8}[storage]]
    outputs = ort.InferenceSession(str(path)).get_outputs()
    assert outputs[1].shape == ["batch", 2, 4, "seq", "seq"]


def test_failed_parity_publishes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(export, "PARITY_TOLERANCE", -1.0)
    with pytest.raises(ExportError, match=r"cnn: ONNX Runtime differs from PyTorch by .* \(tolerance -1"):
        publish_image_model(LeNet(), tmp_path, "cnn")
    assert not (tmp_path / "cnn").exists()


def test_config_that_disagrees_with_the_graph_is_refused(tmp_path):
    path = export.export_onnx(LeNet(), (torch.rand(2, 1, 8, 8),), tmp_path / "m.onnx", ["image"], ["probabilities"],
                              ({0: Dim("batch", min=1, max=64)},))
    with pytest.raises(ExportError, match=r"config output \{'logits': 'FP32'\} != graph \{'probabilities': 'FP32'\}"):
        export.check_io(image_config("cnn", output="logits"), path)


def test_published_config_is_json_with_provenance(tmp_path):
    publish_image_model(LeNet(), tmp_path, "cnn")
    config = json.loads((tmp_path / "cnn" / "config.json").read_text())
    assert config["name"] == "cnn" and config["max_batch_size"] == 64
    assert set(config["provenance"]) >= {"parity", "onnx"}
    assert np.isclose(config["provenance"]["parity"]["tolerance"], 1e-5)


def test_tensor_spec_writes_value_constraints():
    from models.export import tensor_spec

    spec = tensor_spec("tokens", "INT64", [-1], axis_names=["seq"], value_range=(0, 99))
    assert spec == {"name": "tokens", "datatype": "INT64", "dims": [-1], "axis_names": ["seq"], "value_range": [0, 99]}
    assert tensor_spec("mask", "INT64", [-1], allowed_values=[0, 1])["allowed_values"] == [0, 1]
    assert tensor_spec("lengths", "INT64", [], length_of="time")["length_of"] == "time"
