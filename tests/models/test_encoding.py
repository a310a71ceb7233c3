"""The reference encodings: one-hot, multi-hot and the character tokenizer."""

from __future__ import annotations

import numpy as np
import pytest

from models.encoding import CharVocab, MultiHotEncoder, one_hot


def test_one_hot_of_an_index_and_of_a_list():
    assert one_hot(2, 4).tolist() == [0.0, 0.0, 1.0, 0.0]
    np.testing.assert_array_equal(one_hot([1, 0], 2), [[0.0, 1.0], [1.0, 0.0]])
    assert one_hot([0], 3).dtype == np.float32


def test_one_hot_rejects_out_of_range_indices():
    with pytest.raises(ValueError, match=r"class indices must be in \[0, 3\), got \[3, -1\]"):
        one_hot([0, 3, -1], 3)


def test_multi_hot_encodes_sets_in_class_order():
    encoder = MultiHotEncoder(["bg", "en", "ru"])
    assert encoder.encode(["ru", "bg"]).tolist() == [1.0, 0.0, 1.0]
    assert encoder.encode([]).tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_array_equal(encoder.encode_batch([["en"], ["en", "en"]]), [[0, 1, 0], [0, 1, 0]])


def test_multi_hot_empty_batch_keeps_the_width():
    assert MultiHotEncoder(["a", "b"]).encode_batch([]).shape == (0, 2)


def test_multi_hot_unknown_label_is_named():
    with pytest.raises(ValueError, match=r"unknown label 'fr'; known labels: \['bg', 'en'\]"):
        MultiHotEncoder(["bg", "en"]).encode(["fr"])


def test_multi_hot_decode_thresholds_scores():
    encoder = MultiHotEncoder(["bg", "en", "ru"])
    assert encoder.decode([0.9, 0.2, 0.5]) == ["bg", "ru"]
    assert encoder.decode([0.9, 0.2, 0.5], threshold=0.6) == ["bg"]
    assert encoder.decode(encoder.encode(["en"])) == ["en"]


def test_multi_hot_decode_checks_the_width():
    with pytest.raises(ValueError, match="expected a vector of 3 values, got 2"):
        MultiHotEncoder(["a", "b", "c"]).decode([1.0, 0.0])


def test_multi_hot_classes_must_be_unique():
    with pytest.raises(ValueError, match="classes must be unique"):
        MultiHotEncoder(["a", "a"])


def test_char_vocab_reserves_specials_and_orders_by_frequency():
    vocab = CharVocab.build(["aab", "ab", "c"], min_count=1)
    assert vocab.itos[:3] == ["<pad>", "<unk>", "<cls>"]
    assert vocab.itos[3:] == ["a", "b", "c"]
    assert CharVocab.build(["aab", "ab", "c"], min_count=2).encode("c") == [vocab.unk_id]


def test_char_vocab_batch_is_padded_with_a_mask():
    vocab = CharVocab.build(["abc"], min_count=1, max_length=4)
    tokens, mask = vocab.encode_batch(["ab", "abcabc", "z"])
    assert tokens.dtype == np.int64 and mask.dtype == np.int64
    assert tokens.tolist() == [[3, 4, 0, 0], [3, 4, 5, 3], [1, 0, 0, 0]]
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]


def test_char_vocab_config_round_trip():
    vocab = CharVocab.build(["hello", "world"], min_count=1, max_length=16)
    block = vocab.to_config()
    assert block["type"] == "chars" and block["pad_id"] == 0 and block["unk_id"] == 1
    assert block["max_length"] == 16 and block["add_cls"] is False
    again = CharVocab.from_config(block)
    assert again.itos == vocab.itos and again.encode("hold") == vocab.encode("hold")
