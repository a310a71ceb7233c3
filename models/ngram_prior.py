"""A naive-Bayes start for the hashed n-gram table of the language-id Transformer.

Gradient descent needs many epochs before the hashed n-gram rows hold which letter
sequences belong to which language: after two epochs the model still called "password"
Italian and "pokračovať" Czech. Counting needs one pass. So, before training, we count
every n-gram bucket's occurrences per language over a large draw of training samples
(hashed exactly as the network hashes them) and set

    row[bucket] = log P(bucket | language) - mean over languages    (one column per language)

with the n-gram read-out as the identity: the untrained network's n-gram path is then a
naive-Bayes classifier (the mean per-position log-likelihood ratio), which training refines.
With fewer columns than languages (more buckets in the same bytes) the table is the best
rank-k approximation (SVD) and the read-out maps it back to one score per language.
"""

from __future__ import annotations

import numpy as np
import torch

from .encoding import CharVocab
from .text_transformer import TextTransformer


@torch.no_grad()
def count_buckets(model: TextTransformer, vocab: CharVocab, texts: list[str], targets: np.ndarray,
                  batch_size: int = 1024) -> torch.Tensor:
    """[buckets, classes]: how often each bucket occurs in texts of each language (multi-hot adds to each)."""
    counts = torch.zeros(model.hashed.num_embeddings, targets.shape[1], dtype=torch.float64)
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths: little padding
    for start in range(0, len(texts), batch_size):
        index = order[start : start + batch_size]
        tokens, mask = (torch.from_numpy(a) for a in vocab.encode_batch([texts[i] for i in index]))
        labels = torch.from_numpy(targets[index]).to(torch.float64)
        for buckets in model.ngram_buckets(tokens):
            rows, cols = mask.nonzero(as_tuple=True)
            counts.index_add_(0, buckets[rows, cols], labels[rows])
    return counts


@torch.no_grad()
def naive_bayes_init(model: TextTransformer, counts: torch.Tensor, smoothing: float = 0.5) -> dict:
    """Set the n-gram table to centred log-probabilities (rank hash_dim) and the read-out to map them back."""
    buckets, classes = counts.shape
    k = model.hashed.embedding_dim
    if k > classes or model.ngram_head is None:
        raise ValueError(f"naive-Bayes start needs hash_dim <= {classes} languages and the n-gram head")
    log_p = torch.log((counts + smoothing) / (counts.sum(0, keepdim=True) + smoothing * buckets))
    centred = log_p - log_p.mean(1, keepdim=True)
    u, s, vh = torch.linalg.svd(centred, full_matrices=False)
    rows, back = u[:, :k] * s[:k], vh[:k].T  # centred ~= rows @ back.T
    seen = counts.sum(1) > 0
    scale = float(rows[seen].std())  # rows near unit size, as the Transformer's input expects
    model.hashed.weight.copy_((rows / scale).to(torch.float32))
    model.ngram_head.weight.copy_((back * scale / len(model.hash_orders)).to(torch.float32))
    kept = float((s[:k] ** 2).sum() / (s**2).sum())
    return {"smoothing": smoothing, "buckets_seen": int(seen.sum()), "rank": k, "variance_kept": round(kept, 4)}
