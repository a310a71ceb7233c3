"""Attention maps from a served Transformer's attention output: selection, head mean, rollout.

The weights always come from the model's own output tensor (shape [layers,
heads, seq, seq] per item), never recomputed here. Which output holds them is
declared by `postprocessing.attention_output`; failing that, an output with
4 dims whose last two axes are named after an input axis (e.g. "seq") is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.config import ModelConfig
from ..core.config_blocks import ClassificationPostprocessing
from ..core.errors import PayloadTooLarge, Unprocessable


def attention_output(config: ModelConfig) -> str | None:
    """The name of the output holding attention weights, or None when the model has none."""
    post = config.postprocessing
    declared = post.attention_output if isinstance(post, ClassificationPostprocessing) else None
    if declared:  # checked against the outputs when the config loaded
        return declared
    for spec in config.output:
        names = spec.axis_names or []
        if len(spec.dims) == 4 and len(names) == 4 and names[2] and names[2] == names[3]:
            return spec.name
    return None


@dataclass(frozen=True)
class Selection:
    weights: np.ndarray  # [layers', heads', seq, seq]
    layers: list[int]
    heads: list[int | str]  # head indices, or ["mean"] when averaged


def _indices(requested: Sequence[int] | None, count: int, what: str) -> list[int]:
    if requested is None:
        return list(range(count))
    if not requested:
        raise Unprocessable(f"{what}: empty list; expected indices in 0..{count - 1} or null for all")
    bad = [i for i in requested if not 0 <= i < count]
    if bad:
        raise Unprocessable(f"{what}: {bad} out of range; the model has {count} ({what} 0..{count - 1})")
    return list(dict.fromkeys(requested))


def select(weights: np.ndarray, layers: Sequence[int] | None = None, heads: Sequence[int] | None = None,
           average_heads: bool = False) -> Selection:
    """Pick layers and heads from [L, H, T, T]; optionally average the picked heads."""
    weights = as_maps(weights)
    layer_idx = _indices(layers, weights.shape[0], "layers")
    head_idx = _indices(heads, weights.shape[1], "heads")
    picked = weights[np.ix_(layer_idx, head_idx)]
    if average_heads:
        return Selection(picked.mean(axis=1, keepdims=True), layer_idx, ["mean"])
    return Selection(picked, layer_idx, list(head_idx))


def as_maps(weights: np.ndarray) -> np.ndarray:
    """One item's attention output as float64 [L, H, T, T] (a leading batch axis of 1 is dropped)."""
    array = np.asarray(weights, dtype=np.float64)
    while array.ndim > 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 4 or array.shape[2] != array.shape[3]:
        raise Unprocessable(f"attention output must be [layers, heads, seq, seq], got shape {list(array.shape)}")
    return array


def head_mean(weights: np.ndarray) -> np.ndarray:
    """[L, H, T, T] -> [L, T, T]: each layer's heads averaged (rows still sum to 1)."""
    return np.asarray(as_maps(weights).mean(axis=1))


def rollout(weights: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers").

    Per layer, average the heads and account for the residual connection:
    A_hat = (1 - residual) * A_mean + residual * I, rows renormalised to sum 1.
    Then multiply through the layers: rollout = A_hat_L @ ... @ A_hat_1.
    Row i says how much each input token contributes to position i at the top.
    """
    means = head_mean(weights)
    size = means.shape[-1]
    result = np.eye(size)
    for layer in means:
        hat = (1.0 - residual) * layer + residual * np.eye(size)
        hat = hat / hat.sum(axis=-1, keepdims=True)
        result = hat @ result
    return result


def view(weights: np.ndarray, kind: str, layer: int | None = None, head: int | None = None) -> tuple[np.ndarray, str]:
    """One [T, T] matrix to draw, with a title: a single head, a layer's head mean, or the rollout."""
    maps = as_maps(weights)
    count_l, count_h = maps.shape[:2]
    if kind == "rollout":
        return rollout(maps), f"attention rollout over {count_l} layers"
    layer = count_l - 1 if layer is None else layer
    if not 0 <= layer < count_l:
        raise Unprocessable(f"layer: {layer} out of range; the model has {count_l} layers (0..{count_l - 1})")
    if kind == "mean":
        return maps[layer].mean(axis=0), f"layer {layer}, mean of {count_h} heads"
    head = 0 if head is None else head
    if not 0 <= head < count_h:
        raise Unprocessable(f"head: {head} out of range; the model has {count_h} heads (0..{count_h - 1})")
    return maps[layer, head], f"layer {layer}, head {head}"


def check_budget(layers: int, heads: int, seq: int, copies: int, limit: int) -> None:
    """Refuse a response whose attention values would exceed `limit` numbers (413)."""
    size = layers * heads * seq * seq * copies
    if size > limit:
        raise PayloadTooLarge(
            f"attention response of {layers} layers x {heads} heads x {seq}x{seq} tokens"
            f"{f' x {copies} copies' if copies > 1 else ''} = {size} values exceeds the limit of {limit}; "
            "select fewer layers/heads, set average_heads, send a shorter text or set bertviz=false"
        )


def bertviz(selection: Selection) -> list[np.ndarray]:
    """BertViz `head_view(attention, tokens)` input: one [1, heads, seq, seq] array per layer
    (float32; serialised as nested lists).

    jessevig/bertviz, bertviz/head_view.py: "attention: list of torch.FloatTensor (one for each
    layer) of shape (batch_size(must be 1), num_heads, sequence_length, sequence_length)";
    util.format_attention squeezes the batch axis and stacks the layers. So
    `[torch.tensor(a) for a in response["bertviz"]["attention"]]` is what head_view takes.
    """
    return [np.ascontiguousarray(layer[None, ...], dtype=np.float32) for layer in selection.weights]
