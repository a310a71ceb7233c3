"""The language-id network: a small pre-LN Transformer encoder over characters, with
fastText-style hashed character n-grams beside it (see TextTransformer)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


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


class CompactEmbedding(nn.Module):
    """A trained embedding table stored in fewer bytes, looked up as fp32.

    "fp16": the rows rounded to half precision (a Gather on an FP16 table, then a Cast).
    "int8": each row scaled by max|row| / 127 and rounded (Gather int8 rows and their fp32
    scales, Cast, Mul). PyTorch and the exported graph compute exactly the same values.
    """

    def __init__(self, weight: torch.Tensor, storage: str) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = weight.shape
        self.storage = storage
        weight = weight.detach().to(torch.float32)
        if storage == "fp16":
            self.register_buffer("table", weight.to(torch.float16))
            self.scale = None
        elif storage == "int8":
            scale = weight.abs().amax(1, keepdim=True).clamp(min=1e-12) / 127.0
            self.register_buffer("table", torch.round(weight / scale).clamp(-127, 127).to(torch.int8))
            self.register_buffer("scale", scale)
        else:
            raise ValueError(f"unknown n-gram table storage {storage!r} (fp16 or int8)")

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        rows = F.embedding(index, self.table).to(torch.float32)
        return rows if self.scale is None else rows * F.embedding(index, self.scale)


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

    def ngram_buckets(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """Per n-gram order, the hash bucket [B, T] of the n-gram that ENDS at each position.

        Looking back only, with id 0 before the text, means a real character's n-grams never
        reach the padding on the right: a text's outputs do not depend on how its batch was padded.
        """
        t, longest = tokens.shape[1], max(self.hash_orders)
        padded = F.pad(tokens, (longest - 1, 0))
        out = []
        for order in self.hash_orders:
            code = torch.full_like(tokens, order * 7919)
            for back in range(order):
                start = longest - 1 - back
                code = code * 8191 % 2147483647 + padded[:, start : start + t] * _HASH_PRIMES[back]
            out.append(code % self.hashed.num_embeddings)
        return out

    def ngram_embeddings(self, tokens: torch.Tensor) -> torch.Tensor:
        """Sum over the n-gram orders of the hashed embeddings of the n-grams ending at each position."""
        total = torch.zeros((*tokens.shape, self.hashed.embedding_dim), dtype=torch.float32)
        for buckets in self.ngram_buckets(tokens):
            total = total + self.hashed(buckets)
        return total

    def compact_ngram_table(self, storage: str) -> None:
        """After training: keep the hashed n-gram table as "fp16" or "int8" (fp32 = leave it)."""
        if self.hashed is not None and storage != "fp32" and isinstance(self.hashed, nn.Embedding):
            self.hashed = CompactEmbedding(self.hashed.weight, storage)

    def logits(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.encode(tokens, mask)[0]

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, attentions = self.encode(tokens, mask)
        return torch.sigmoid(logits), attentions
