"""Network definitions: output contracts, activation option, and padding invariance."""

from __future__ import annotations

import pytest
import torch

from models.networks import (
    ACTIVATIONS,
    MLP,
    DenoisingAutoencoder,
    LeNet,
    ResNet,
    SequenceClassifier,
    TextTransformer,
    activation,
)

torch.manual_seed(0)


@pytest.mark.parametrize("network", [LeNet, ResNet, MLP])
def test_classifiers_output_probabilities(network):
    model = network(num_classes=10).eval()
    images = torch.rand(5, 1, 8, 8)
    probs = model(images)
    assert probs.shape == (5, 10)
    torch.testing.assert_close(probs.sum(1), torch.ones(5))
    torch.testing.assert_close(probs, torch.softmax(model.logits(images), 1))  # softmax is in the graph


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_is_a_training_option(name):
    model = LeNet(act=name)
    assert any(isinstance(m, type(activation(name))) for m in model.modules())


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="activation must be one of .*got 'swish'"):
        activation("swish")


def test_denoiser_maps_images_to_unit_range_images():
    out = DenoisingAutoencoder().eval()(torch.rand(3, 1, 8, 8))
    assert out.shape == (3, 1, 8, 8) and out.min() >= 0 and out.max() <= 1
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in DenoisingAutoencoder().modules())


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_sequence_classifier_ignores_padding(cell, bidirectional):
    model = SequenceClassifier(12, 9, cell=cell, hidden=16, bidirectional=bidirectional).eval()
    frames = torch.randn(1, 7, 12)
    alone = model(frames, torch.tensor([7]))
    padded = torch.cat([frames, torch.randn(1, 5, 12)], dim=1)  # garbage after the end
    torch.testing.assert_close(model(padded, torch.tensor([7])), alone, atol=1e-6, rtol=0)
    assert alone.shape == (1, 9)


def test_sequence_classifier_bakes_in_normalisation():
    model = SequenceClassifier(2, 3, hidden=8).eval()
    x = torch.randn(2, 4, 2)
    reference = model(x, torch.tensor([4, 2]))
    model.set_normalisation(torch.tensor([1.0, -2.0]), torch.tensor([2.0, 0.5]))
    shifted = x * torch.tensor([2.0, 0.5]) + torch.tensor([1.0, -2.0])
    torch.testing.assert_close(model(shifted, torch.tensor([4, 2])), reference)


def test_transformer_returns_sigmoid_probabilities_and_attention_maps():
    model = TextTransformer(50, 6, dim=32, heads=4, layers=2, max_length=16).eval()
    tokens = torch.randint(3, 50, (3, 10))
    probs, attentions = model(tokens, torch.ones(3, 10, dtype=torch.long))
    assert probs.shape == (3, 6) and ((probs > 0) & (probs < 1)).all()
    assert attentions.shape == (3, 2, 4, 10, 10)
    torch.testing.assert_close(attentions.sum(-1), torch.ones(3, 2, 4, 10))


@pytest.mark.parametrize("conv_kernel", [0, 3])
def test_transformer_masks_padded_keys(conv_kernel):
    model = TextTransformer(50, 6, dim=32, heads=4, layers=2, max_length=16, conv_kernel=conv_kernel).eval()
    tokens = torch.randint(3, 50, (1, 5))
    probs, attentions = model(tokens, torch.ones(1, 5, dtype=torch.long))
    padded = torch.cat([tokens, torch.randint(0, 50, (1, 6))], dim=1)  # any ids after the end
    mask = torch.tensor([[1] * 5 + [0] * 6])
    probs_p, attentions_p = model(padded, mask)
    torch.testing.assert_close(probs_p, probs, atol=1e-6, rtol=0)
    torch.testing.assert_close(attentions_p[..., :5, :5], attentions, atol=1e-6, rtol=0)
    assert attentions_p[..., 5:].abs().max() == 0.0  # padded keys get exactly no weight
