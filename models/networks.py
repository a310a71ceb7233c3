"""Every network we train, in one module (nanoGPT style).

Networks return what the exported ONNX graph returns: probabilities for the
classifiers (softmax or sigmoid inside the graph, so the service needs no
numerics of its own), a [0, 1] image for the denoiser. Training uses the
`logits()` methods instead, for numerically stable losses.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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


class SelfAttention(nn.Module):
    """Multi-head dot-product attention written out, so its weights can be returned and exported."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim) + key_bias  # [B, H, T, T]
        weights = torch.softmax(scores, dim=-1)  # exp(-1e9) is exactly 0: padded keys get no weight
        out = (self.dropout(weights) @ v).transpose(1, 2).reshape(b, t, d)
        return self.proj(out), weights


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attended, weights = self.attn(self.ln1(x), key_bias)
        x = x + self.dropout(attended)
        return x + self.mlp(self.ln2(x)), weights


_HASH_PRIMES = (1000003, 999983, 998443, 997879, 996323)  # one multiplier per look-back distance


class TextTransformer(nn.Module):
    """Pre-LN Transformer encoder over characters, masked-mean pooled, sigmoid multi-label head.

    forward(tokens, mask) -> (probabilities [B, classes], attentions [B, layers, heads, T, T]).
    Padded keys are masked out and pooling ignores padded positions, so a text's
    outputs are the same however far its batch was padded.
    """

    def __init__(self, vocab_size: int, num_classes: int, dim: int = 96, heads: int = 4, layers: int = 2,
                 max_length: int = 64, dropout: float = 0.1, conv_kernel: int = 3,
                 hash_buckets: int = 0, hash_dim: int = 32, hash_orders: tuple[int, ...] = (2, 3, 4),
                 ngram_head: bool = False) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, dim)
        # fastText-style hashed character n-grams: a large, cheap memory of which letter
        # sequences belong to which language, which a few attention layers cannot hold.
        self.hash_orders = hash_orders
        self.hashed = nn.Embedding(hash_buckets, hash_dim) if hash_buckets else None
        self.hashed_proj = nn.Linear(hash_dim, dim, bias=False) if hash_buckets else None
        # A linear read-out of the mean n-gram embedding beside the Transformer's (fastText's
        # whole model): it learns in one pass what the attention layers take many epochs to.
        self.ngram_head = nn.Linear(hash_dim, num_classes, bias=False) if hash_buckets and ngram_head else None
        self.positions = nn.Embedding(max_length, dim)
        # A character n-gram layer under the attention: it converges much faster on short strings.
        self.ngrams = nn.Conv1d(dim, dim, conv_kernel, padding=conv_kernel // 2) if conv_kernel else None
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, dropout) for _ in range(layers))
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.dropout = nn.Dropout(dropout)

    def encode(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = tokens.shape[1]
        keep = mask.to(torch.float32)
        key_bias = ((1.0 - keep) * -1e9)[:, None, None, :]  # [B, 1, 1, T], broadcast over heads and queries
        x = self.tokens(tokens)
        grams = self.ngram_embeddings(tokens) * keep[:, :, None] if self.hashed is not None else None
        if grams is not None:
            x = x + self.hashed_proj(grams)
        x = x * keep[:, :, None]
        if self.ngrams is not None:
            # Padding is zeroed first, so a real character's window sees the same zeros whether
            # the batch was padded or the conv's own zero padding supplied them.
            x = x + F.gelu(self.ngrams(x.transpose(1, 2))).transpose(1, 2)
        x = self.dropout(x + self.positions.weight[:t])
        attentions = []
        for block in self.blocks:
            x, weights = block(x, key_bias)
            attentions.append(weights)
        x = self.ln(x)
        count = keep.sum(1, keepdim=True).clamp(min=1.0)
        logits = self.head((x * keep[:, :, None]).sum(1) / count)
        if self.ngram_head is not None:
            logits = logits + self.ngram_head(grams.sum(1) / count)
        return logits, torch.stack(attentions, dim=1)

    def ngram_embeddings(self, tokens: torch.Tensor) -> torch.Tensor:
        """Sum of the hashed embeddings of the n-grams that END at each position.

        Looking back only, with id 0 before the text, means a real character's n-grams never
        reach the padding on the right: a text's outputs do not depend on how its batch was padded.
        """
        t, longest = tokens.shape[1], max(self.hash_orders)
        padded = F.pad(tokens, (longest - 1, 0))
        buckets = self.hashed.num_embeddings
        total = torch.zeros((*tokens.shape, self.hashed.embedding_dim), dtype=torch.float32)
        for order in self.hash_orders:
            code = torch.full_like(tokens, order * 7919)
            for back in range(order):
                start = longest - 1 - back
                code = code * 8191 % 2147483647 + padded[:, start : start + t] * _HASH_PRIMES[back]
            total = total + self.hashed(code % buckets)
        return total

    def logits(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.encode(tokens, mask)[0]

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, attentions = self.encode(tokens, mask)
        return torch.sigmoid(logits), attentions
