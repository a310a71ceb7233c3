"""What a model's friendly endpoints take and answer, read from its config (for the playground).

The playground (`/ui`) draws its controls from this description, never from a
model's name: a canvas for an image input, a frame plot for a sequence, a text box
(and an attention heatmap when the model returns attention weights), bars for
labels or a side-by-side image for an image output. A model without a
`preprocessing` block gets kind None, and the page offers its raw tensors.

`oip_inputs` turns the feeds a friendly request produced into Open Inference
Protocol input tensors: the exact body `/infer` (or tritonclient, or perf_analyzer)
would send to have the model compute the same thing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.config import ModelConfig
from ..core.config_blocks import SequencePreprocessing, TextPreprocessing
from ..core.datatypes import kserve_datatype
from . import attention_maps, preprocess
from .postprocess import Postprocessing
from .samples import samples_for


def _image_input(config: ModelConfig) -> dict[str, Any]:
    spec = preprocess.image_spec(config)
    return {
        "name": spec.input, "height": spec.height, "width": spec.width, "channels": spec.channels,
        "layout": spec.layout, "background": spec.background, "invert": spec.invert, "resize": spec.resize,
        "value_range": list(spec.value_range) if spec.value_range else None,
        "normalised": spec.mean is not None,
    }


def _sequence_input(config: ModelConfig) -> dict[str, Any]:
    pre = config.preprocessing
    assert isinstance(pre, SequencePreprocessing)
    frames = config.input_spec(pre.input or "") or next(
        (s for s in config.input if s.datatype.startswith("FP") and s.variable), config.input[0])
    return {"name": frames.name, "channels": pre.channels or frames.dims[-1], "min_length": pre.min_length,
            "max_length": pre.max_length, "lengths_input": pre.lengths_input}


def _text_input(config: ModelConfig) -> dict[str, Any]:
    pre = config.preprocessing
    assert isinstance(pre, TextPreprocessing)
    return {"tokens_input": pre.tokens_input, "mask_input": pre.mask_input, "max_length": pre.max_length,
            "vocab_size": len(pre.vocab), "lowercase": pre.lowercase, "truncation": pre.truncation}


def _output(config: ModelConfig) -> dict[str, Any]:
    post = Postprocessing.from_config(config)
    if post.type == "image":
        return {"type": "image", "name": post.output, "value_range": list(post.value_range)}
    return {"type": "labels", "name": post.output, "labels": post.labels, "multi_label": post.multi_label,
            "top_k": post.top_k, "threshold": post.threshold}


def describe(config: ModelConfig) -> dict[str, Any]:
    """The friendly view of one model: its input kind and details, its output, attention, samples."""
    kind = preprocess.kind_of(config)
    details = {"image": _image_input, "sequence": _sequence_input, "text": _text_input}
    attention = attention_maps.attention_output(config) if kind == "text" else None
    samples = samples_for(config)
    return {
        "name": config.name,
        "description": config.description,
        "kind": kind,
        "input": details[kind](config) if kind else None,
        "output": _output(config),
        "attention_output": attention,
        "labels": list(config.labels),
        "max_batch_size": config.max_batch_size,
        "samples": {"name": samples.name, "count": len(samples.items)} if samples else None,
        "notes": {**getattr(config.preprocessing, "notes", {}), **config.postprocessing.notes},
    }


def oip_inputs(config: ModelConfig, feeds: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Feeds of one request (batch axis included when the model batches) as OIP JSON input tensors,
    in the config's input order. `data` stays a flat numpy array: orjson writes float32 values in
    their shortest exact form (0.1, not 0.10000000149011612)."""
    tensors = []
    for spec in config.input:
        array = np.asarray(feeds[spec.name])
        tensors.append({"name": spec.name, "shape": list(array.shape), "datatype": kserve_datatype(array.dtype),
                        "data": array.reshape(-1)})
    return tensors
