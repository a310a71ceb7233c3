"""Every network we train, in one module (nanoGPT style); the language-id Transformer in text_transformer.py.

Networks return what the exported ONNX graph returns: probabilities for the
classifiers (softmax or sigmoid inside the graph, so the service needs no
numerics of its own), a [0, 1] image for the denoiser. Training uses the
`logits()` methods instead, for numerically stable losses.
"""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.1), "elu": nn.ELU, "tanh": nn.Tanh}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name: relu, leaky_relu, elu or tanh."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


class Classifier(nn.Module):
    """Base for the digit classifiers: forward() = softmax(logits())."""

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(image), dim=-1)


class LeNet(Classifier):
    """LeNet-style CNN for [B, 1, 8, 8]: conv-conv-maxpool, conv-avgpool, two dense layers."""

    def __init__(self, num_classes: int = 10, act: str = "relu", width: int = 32, dropout: float = 0.25) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), activation(act),
            nn.Conv2d(width, width, 3, padding=1), activation(act),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Dropout(dropout),
            nn.Conv2d(width, 2 * width, 3, padding=1), activation(act),
            nn.AvgPool2d(2),  # 4x4 -> 2x2
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout),
            nn.Linear(2 * width * 4, 128), activation(act),
            nn.Dropout(dropout), nn.Linear(128, num_classes),
        )

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image))


class ResidualBlock(nn.Module):
    """conv-BN-act-conv-BN plus a (projected when the shape changes) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int, act: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act = activation(act)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv1(x)))
        return self.act(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet(Classifier):
    """A small residual network: stem, two stages of residual blocks, global average pooling."""

    def __init__(self, num_classes: int = 10, act: str = "relu", width: int = 32, dropout: float = 0.2) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), activation(act))
        self.stages = nn.Sequential(
            ResidualBlock(width, width, 1, act),
            ResidualBlock(width, 2 * width, 2, act),  # 8x8 -> 4x4
            ResidualBlock(2 * width, 2 * width, 1, act),
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * width, num_classes)
        )

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(image)))


class MLP(Classifier):
    """Fully connected baseline on the 64 flattened pixels."""

    def __init__(self, num_classes: int = 10, act: str = "relu", hidden: int = 256, dropout: float = 0.25) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(64, hidden), activation(act), nn.Dropout(dropout),
            nn.Linear(hidden, hidden // 2), activation(act), nn.Dropout(dropout),
            nn.Linear(hidden // 2, num_classes),
        )

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)


class DenoisingAutoencoder(nn.Module):
    """Conv down to 4x4, ConvTranspose back up to 8x8, sigmoid output in [0, 1]."""

    def __init__(self, width: int = 32, act: str = "relu") -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), activation(act),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), activation(act),  # 8x8 -> 4x4
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), activation(act),  # 4x4 -> 8x8
            nn.Conv2d(width, 1, 3, padding=1),
        )

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(image))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(image))


class SequenceClassifier(nn.Module):
    """LSTM or GRU over [B, T, C] frames; classifies from the last *valid* step.

    Channel normalisation is baked in (buffers), so clients send raw cepstra.
    Each recurrence runs forwards, so the state at step `length - 1` never sees the
    padding after it: results do not depend on how far a batch was padded. The
    optional backward direction runs over each sequence reversed within its length.
    (The dynamo exporter cannot export pack_padded_sequence; this needs no packing.)
    """

    def __init__(self, channels: int, num_classes: int, cell: str = "lstm", hidden: int = 128,
                 layers: int = 1, dropout: float = 0.3, bidirectional: bool = False) -> None:
        super().__init__()
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))
        self.rnn = rnn(channels, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.backward_rnn = None
        if bidirectional:
            self.backward_rnn = rnn(channels, hidden, num_layers=layers, batch_first=True,
                                    dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden * (2 if bidirectional else 1), num_classes))

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(torch.as_tensor(mean))
        self.std.copy_(torch.as_tensor(std))

    def logits(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = (frames - self.mean) / self.std
        lengths = lengths.clamp(min=1, max=frames.shape[1])
        summary = self._last_valid(self.rnn(x)[0], lengths)
        if self.backward_rnn is not None:
            # Reverse each sequence *within its own length* (padding stays at the end), so the
            # backward pass also starts at a real frame and never reads padding before step length-1.
            steps = torch.arange(frames.shape[1], device=frames.device)[None, :]
            source = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
            reversed_x = x.gather(1, source[:, :, None].expand(-1, -1, x.shape[2]))
            backward = self._last_valid(self.backward_rnn(reversed_x)[0], lengths)
            summary = torch.cat([summary, backward], dim=1)
        return self.head(summary)

    @staticmethod
    def _last_valid(out: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return out.gather(1, (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.shape[2])).squeeze(1)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(frames, lengths), dim=-1)


# The language-id Transformer lives in its own module (this one stays under 300 lines).
from .text_transformer import SelfAttention, TextTransformer, TransformerBlock  # noqa: E402, F401

