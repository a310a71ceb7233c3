"""The naive-Bayes start of the hashed n-gram table: counted as the network hashes, classifying before training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.encoding import CharVocab
from models.ngram_prior import count_buckets, naive_bayes_init
from models.text_transformer import TextTransformer

TEXTS = ["kala ja kass", "kass on kala", "fish and chips", "chips and fish"]
TARGETS = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0]], dtype=np.float32)  # the third language: no text


def network(hash_dim: int = 3) -> TextTransformer:
    torch.manual_seed(0)
    return TextTransformer(40, 3, dim=16, heads=2, layers=1, hash_buckets=512, hash_dim=hash_dim,
                           hash_orders=(2, 3), ngram_head=True)


def ngram_logits(model: TextTransformer, vocab: CharVocab, texts: list[str]) -> torch.Tensor:
    tokens, mask = (torch.from_numpy(a) for a in vocab.encode_batch(texts))
    grams = model.ngram_embeddings(tokens) * mask[:, :, None]
    return model.ngram_head(grams.sum(1) / mask.sum(1, keepdim=True))


def test_counts_follow_the_networks_own_buckets():
    model, vocab = network(), CharVocab.build(TEXTS, 1, 64, True)
    counts = count_buckets(model, vocab, TEXTS, TARGETS)
    # each text adds one 2-gram and one 3-gram per character, to its own language only
    assert counts[:, 0].sum() == 2 * sum(len(t) for t in TEXTS[:2])
    assert counts[:, 1].sum() == 2 * sum(len(t) for t in TEXTS[2:]) and counts[:, 2].sum() == 0


@pytest.mark.parametrize("hash_dim", [3, 2])
def test_the_untrained_ngram_path_already_tells_the_languages_apart(hash_dim):
    model, vocab = network(hash_dim), CharVocab.build(TEXTS, 1, 64, True)
    info = naive_bayes_init(model, count_buckets(model, vocab, TEXTS, TARGETS))
    assert ngram_logits(model, vocab, ["kass ja kala", "fish chips"]).argmax(1).tolist() == [0, 1]
    assert info["rank"] == hash_dim and 0 < info["variance_kept"] <= 1


def test_more_columns_than_languages_is_refused():
    model, vocab = network(4), CharVocab.build(TEXTS, 1, 64, True)
    with pytest.raises(ValueError, match="hash_dim <= 3"):
        naive_bayes_init(model, count_buckets(model, vocab, TEXTS, TARGETS))
