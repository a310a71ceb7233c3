from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from service.core.config import ModelConfig
from service.core.errors import PayloadTooLarge, Unprocessable
from service.friendly import attention_maps as am
from tests.service.friendly_models import image_classifier, text_attention


def random_maps(layers=3, heads=2, seq=5, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(layers, heads, seq, seq))
    e = np.exp(scores)
    return e / e.sum(-1, keepdims=True)


def independent_rollout(maps: np.ndarray) -> np.ndarray:
    """Abnar & Zuidema (2020), written out step by step, layer 1 first."""
    seq = maps.shape[-1]
    joint = None
    for layer in range(maps.shape[0]):
        a = sum(maps[layer, h] for h in range(maps.shape[1])) / maps.shape[1]
        a = 0.5 * a + 0.5 * np.identity(seq)
        a = a / a.sum(axis=1)[:, None]
        joint = a if joint is None else a @ joint
    return joint


def test_attention_output_is_declared_or_detected():
    raw = text_attention()[0]
    assert am.attention_output(ModelConfig.model_validate(raw)) == "attentions"
    # The old alias "attentions" is an unknown key now: it fails at load instead of being half-supported.
    with pytest.raises(ValidationError, match=r"postprocessing\.none\.attentions\n  Extra inputs are not permitted"):
        ModelConfig.model_validate({**raw, "postprocessing": {"attentions": "attentions"}})
    detected = {**raw, "postprocessing": {"type": "none"}}
    assert am.attention_output(ModelConfig.model_validate(detected)) == "attentions"
    assert am.attention_output(ModelConfig.model_validate(image_classifier()[0])) is None
    wrong = {**raw, "postprocessing": {"attention_output": "weights"}}
    with pytest.raises(ValidationError, match="postprocessing.attention_output 'weights' is not an output"):
        ModelConfig.model_validate(wrong)


def test_rollout_matches_an_independent_computation():
    maps = random_maps()
    np.testing.assert_allclose(am.rollout(maps), independent_rollout(maps), atol=1e-12)
    np.testing.assert_allclose(am.rollout(maps).sum(-1), 1.0, atol=1e-12)


def test_rollout_of_identity_attention_is_identity():
    maps = np.broadcast_to(np.eye(4), (2, 3, 4, 4))
    np.testing.assert_allclose(am.rollout(maps), np.eye(4))


def test_select_filters_layers_and_heads_in_the_order_asked():
    maps = random_maps(layers=3, heads=4)
    picked = am.select(maps, layers=[2, 0], heads=[3])
    assert picked.layers == [2, 0] and picked.heads == [3]
    np.testing.assert_array_equal(picked.weights, maps[[2, 0]][:, [3]])


def test_average_heads_keeps_rows_stochastic():
    maps = random_maps(layers=2, heads=4)
    picked = am.select(maps, average_heads=True)
    assert picked.weights.shape == (2, 1, 5, 5) and picked.heads == ["mean"]
    np.testing.assert_allclose(picked.weights[:, 0], am.head_mean(maps))
    np.testing.assert_allclose(picked.weights.sum(-1), 1.0, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layers": [0, 3]}, "layers: [3] out of range; the model has 3 (layers 0..2)"),
        ({"heads": [-1]}, "heads: [-1] out of range; the model has 2 (heads 0..1)"),
        ({"layers": []}, "layers: empty list; expected indices in 0..2 or null for all"),
    ],
)
def test_out_of_range_selection_is_422(kwargs, message):
    with pytest.raises(Unprocessable) as info:
        am.select(random_maps(), **kwargs)
    assert info.value.message == message


def test_views_pick_a_head_a_layer_mean_or_the_rollout():
    maps = random_maps()
    matrix, title = am.view(maps, "head", layer=1, head=1)
    np.testing.assert_array_equal(matrix, maps[1, 1])
    assert title == "layer 1, head 1"
    matrix, title = am.view(maps, "mean")
    np.testing.assert_allclose(matrix, maps[2].mean(0))
    assert title == "layer 2, mean of 2 heads"
    np.testing.assert_allclose(am.view(maps, "rollout")[0], independent_rollout(maps))
    with pytest.raises(Unprocessable, match=r"head: 2 out of range; the model has 2 heads \(0..1\)"):
        am.view(maps, "head", layer=0, head=2)


def test_budget_names_the_limit():
    am.check_budget(2, 4, 10, 2, 1600)
    with pytest.raises(PayloadTooLarge) as info:
        am.check_budget(2, 4, 10, 2, 1599)
    assert info.value.message.startswith(
        "attention response of 2 layers x 4 heads x 10x10 tokens x 2 copies = 1600 values exceeds the limit of 1599"
    )


def test_bertviz_layout_is_one_batch_of_one_per_layer():
    maps = random_maps(layers=3, heads=2, seq=4)
    layers = am.bertviz(am.select(maps))
    assert len(layers) == 3
    assert all(layer.shape == (1, 2, 4, 4) for layer in layers)
    np.testing.assert_allclose(layers[1][0], maps[1], atol=1e-7)


def test_a_batch_axis_of_one_is_dropped_and_bad_shapes_refused():
    assert am.as_maps(random_maps()[None]).shape == (3, 2, 5, 5)
    with pytest.raises(Unprocessable, match=r"attention output must be \[layers, heads, seq, seq\], got shape \[2, 5, 5\]"):
        am.as_maps(np.zeros((2, 5, 5)))
