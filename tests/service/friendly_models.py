"""Tiny ONNX models for the friendly endpoints, shaped like the reference models.

- img_cls:   image [1, 8, 8] -> probabilities [3] = softmax(flatten(image) @ W)
- img_ae:    image [1, 8, 8] -> reconstruction [1, 8, 8] = 1 - image
- seq_cls:   frames [T, 12] + lengths -> probabilities [3] = softmax(mean over time @ W)
- txt_attn:  tokens [T] + mask [T] -> probabilities [4] (sigmoid) and attentions [2, 2, T, T]
             (softmax over keys of E W E^T with padded keys masked out)

Configs carry the same preprocessing/postprocessing fields as the trained models.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tests.tiny_models import write_model

RNG = np.random.default_rng(0)
W_IMG = RNG.normal(0, 1, (64, 3)).astype(np.float32)
W_SEQ = RNG.normal(0, 1, (12, 3)).astype(np.float32)
VOCAB = ["<pad>", "<unk>", "<cls>", "a", "b", "c", "d", "e", " "]
EMB = RNG.normal(0, 1, (len(VOCAB), 6)).astype(np.float32)
W_ATT = RNG.normal(0, 0.7, (4, 6, 6)).astype(np.float32)  # 2 layers x 2 heads
W_OUT = RNG.normal(0, 1, (6, 4)).astype(np.float32)

IMAGE_PRE = {
    "type": "image", "height": 8, "width": 8, "channels": 1, "layout": "CHW",
    "value_range": [0.0, 1.0], "scale": 1.0 / 255.0,
    "resize": "area", "background": "dark", "invert": "auto",
}


def _c(name: str, array: np.ndarray):
    return numpy_helper.from_array(np.asarray(array), name)


def _config(name, inputs, outputs, labels, pre, post):
    return {"name": name, "max_batch_size": 16, "input": inputs, "output": outputs,
            "warmup": {"batch_sizes": [1]}, "labels": labels, "preprocessing": pre, "postprocessing": post}


def image_classifier():
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 8, 8])
    y = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])
    nodes = [helper.make_node("Flatten", ["image"], ["flat"], axis=1),
             helper.make_node("MatMul", ["flat", "w"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1)]
    graph = helper.make_graph(nodes, "img_cls", [x], [y], initializer=[_c("w", W_IMG)])
    config = _config("img_cls", [{"name": "image", "datatype": "FP32", "dims": [1, 8, 8]}],
                     [{"name": "probabilities", "datatype": "FP32", "dims": [3]}], ["zero", "one", "two"],
                     IMAGE_PRE, {"type": "none", "output": "probabilities", "applied_in_graph": "softmax", "top_k": 2})
    return config, graph


def image_autoencoder():
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 8, 8])
    y = helper.make_tensor_value_info("reconstruction", TensorProto.FLOAT, ["batch", 1, 8, 8])
    graph = helper.make_graph([helper.make_node("Sub", ["one", "image"], ["reconstruction"])], "img_ae", [x], [y],
                              initializer=[_c("one", np.float32(1.0))])
    config = _config("img_ae", [{"name": "image", "datatype": "FP32", "dims": [1, 8, 8]}],
                     [{"name": "reconstruction", "datatype": "FP32", "dims": [1, 8, 8]}], [], IMAGE_PRE,
                     {"type": "image", "output": "reconstruction", "value_range": [0.0, 1.0]})
    return config, graph


def sequence_classifier():
    frames = helper.make_tensor_value_info("frames", TensorProto.FLOAT, ["batch", "time", 12])
    lengths = helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"])
    y = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])
    nodes = [helper.make_node("ReduceSum", ["frames", "axis1"], ["total"], keepdims=0),
             helper.make_node("Cast", ["lengths"], ["lf"], to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["lf", "axis1"], ["lf2"]),
             helper.make_node("Div", ["total", "lf2"], ["mean"]),
             helper.make_node("MatMul", ["mean", "w"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1)]
    graph = helper.make_graph(nodes, "seq_cls", [frames, lengths], [y],
                              initializer=[_c("axis1", np.array([1], np.int64)), _c("w", W_SEQ)])
    config = _config(
        "seq_cls",
        [{"name": "frames", "datatype": "FP32", "dims": [-1, 12], "axis_names": ["time", None], "pad_value": 0.0},
         {"name": "lengths", "datatype": "INT64", "dims": []}],
        [{"name": "probabilities", "datatype": "FP32", "dims": [3]}], ["s1", "s2", "s3"],
        {"type": "sequence", "channels": 12, "lengths_input": "lengths", "min_length": 1, "max_length": 50},
        {"type": "none", "output": "probabilities", "applied_in_graph": "softmax", "top_k": 3})
    return config, graph


def text_attention():
    tokens = helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "seq"])
    mask = helper.make_tensor_value_info("mask", TensorProto.INT64, ["batch", "seq"])
    probs = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 4])
    att = helper.make_tensor_value_info("attentions", TensorProto.FLOAT, ["batch", 2, 2, "seq", "seq"])
    n = helper.make_node
    nodes = [
        n("Gather", ["emb", "tokens"], ["e"]),                       # [B, T, D]
        n("Cast", ["mask"], ["m"], to=TensorProto.FLOAT),             # [B, T]
        n("Unsqueeze", ["e", "axis1"], ["e1"]),                       # [B, 1, T, D]
        n("MatMul", ["e1", "watt"], ["q"]),                           # [B, 4, T, D]
        n("Transpose", ["e1"], ["et"], perm=[0, 1, 3, 2]),            # [B, 1, D, T]
        n("MatMul", ["q", "et"], ["scores"]),                         # [B, 4, T, T]
        n("Sub", ["one", "m"], ["pad"]),
        n("Mul", ["pad", "big"], ["bias0"]),
        n("Unsqueeze", ["bias0", "axes12"], ["bias"]),                # [B, 1, 1, T]
        n("Add", ["scores", "bias"], ["masked"]),
        n("Softmax", ["masked"], ["w4"], axis=-1),
        n("Shape", ["tokens"], ["shape"]),
        n("Slice", ["shape", "s0", "s1"], ["b"]),
        n("Slice", ["shape", "s1", "s2"], ["t"]),
        n("Concat", ["b", "two", "two", "t", "t"], ["target"], axis=0),
        n("Reshape", ["w4", "target"], ["attentions"]),               # [B, 2, 2, T, T]
        n("Unsqueeze", ["m", "axis2"], ["m3"]),                       # [B, T, 1]
        n("Mul", ["e", "m3"], ["em"]),
        n("ReduceSum", ["em", "axis1"], ["sum"], keepdims=0),         # [B, D]
        n("ReduceSum", ["m", "axis1"], ["count"], keepdims=1),        # [B, 1]
        n("Div", ["sum", "count"], ["pooled"]),
        n("MatMul", ["pooled", "wout"], ["logits"]),
        n("Sigmoid", ["logits"], ["probabilities"]),
    ]
    consts = [_c("emb", EMB), _c("watt", W_ATT), _c("wout", W_OUT), _c("one", np.float32(1.0)),
              _c("big", np.float32(-1e9)), _c("axis1", np.array([1], np.int64)),
              _c("axis2", np.array([2], np.int64)), _c("axes12", np.array([1, 2], np.int64)),
              _c("s0", np.array([0], np.int64)), _c("s1", np.array([1], np.int64)),
              _c("s2", np.array([2], np.int64)), _c("two", np.array([2], np.int64))]
    graph = helper.make_graph(nodes, "txt_attn", [tokens, mask], [probs, att], initializer=consts)
    config = _config(
        "txt_attn",
        [{"name": "tokens", "datatype": "INT64", "dims": [-1], "axis_names": ["seq"], "pad_value": 0},
         {"name": "mask", "datatype": "INT64", "dims": [-1], "axis_names": ["seq"], "pad_value": 0}],
        [{"name": "probabilities", "datatype": "FP32", "dims": [4]},
         {"name": "attentions", "datatype": "FP32", "dims": [2, 2, -1, -1], "axis_names": [None, None, "seq", "seq"]}],
        ["en", "fr", "de", "ru"],
        {"type": "chars", "vocab": VOCAB, "pad_id": 0, "unk_id": 1, "cls_id": 2, "add_cls": True,
         "max_length": 16, "lowercase": False, "truncation": "right"},
        {"type": "none", "output": "probabilities", "applied_in_graph": "sigmoid", "threshold": 0.5, "top_k": 3,
         "attention_output": "attentions"})
    return config, graph


def add_friendly_models(root):
    """Write the four models above into an existing repository folder."""
    for build in (image_classifier, image_autoencoder, sequence_classifier, text_attention):
        config, graph = build()
        write_model(root, config, graph)
    return root
