from __future__ import annotations

import numpy as np
import pytest

from models.encoding import MultiHotEncoder, one_hot
from service.core.errors import Unprocessable
from service.friendly import onehot

CLASSES = ["bg", "cs", "en", "ru", "sk"]
VOCAB = onehot.Vocabulary(CLASSES)


def test_one_hot_equals_the_training_code():
    items = [["ru"], ["bg"], ["sk"]]
    dense = onehot.encode(VOCAB, items, multi=False).dense(len(VOCAB))
    np.testing.assert_array_equal(dense, one_hot([3, 0, 4], len(CLASSES)))
    assert dense.dtype == one_hot([0], 5).dtype


def test_multi_hot_equals_the_training_code():
    sets = [["ru", "bg"], ["en"], [], ["sk", "cs", "sk"]]
    dense = onehot.encode(VOCAB, sets, multi=True).dense(len(VOCAB))
    np.testing.assert_array_equal(dense, MultiHotEncoder(CLASSES).encode_batch(sets))


def test_multi_hot_decode_equals_the_training_code():
    reference = MultiHotEncoder(CLASSES)
    scores = [[0.9, 0.5, 0.49, 0.0, 1.0], [0.1] * 5]
    for threshold in (0.5, 0.05):
        assert onehot.decode_dense(VOCAB, scores, multi=True, threshold=threshold) == [
            reference.decode(row, threshold) for row in scores
        ]


def test_round_trip_dense_and_sparse():
    sets = [["cs", "ru"], ["en"]]
    encoded = onehot.encode(VOCAB, sets, multi=True)
    assert encoded.indices == [[1, 3], [2]]
    assert onehot.decode_dense(VOCAB, encoded.dense(5).tolist(), multi=True) == sets
    assert onehot.decode_sparse(VOCAB, encoded.indices, multi=True) == sets


def test_one_hot_decode_takes_the_largest_and_an_empty_row_is_no_label():
    assert onehot.decode_dense(VOCAB, [[0, 0, 0.7, 0.2, 0], [0] * 5], multi=False) == [["en"], []]


def test_one_hot_needs_exactly_one_label_per_item():
    with pytest.raises(Unprocessable, match=r"^labels\[1\]: one-hot takes exactly one label per item, received 2$"):
        onehot.encode(VOCAB, [["en"], ["en", "ru"]], multi=False)


def test_unknown_labels_are_named_with_the_allowed_ones():
    with pytest.raises(Unprocessable) as info:
        onehot.encode(VOCAB, [["en", "xx"], ["yy", "xx"]], multi=True)
    assert info.value.message == (
        "unknown label(s) ['xx'] not in the vocabulary of 5 labels; allowed: ['bg', 'cs', 'en', 'ru', 'sk'] "
        "(set unknown='ignore' to drop unknown labels)"
    )


def test_a_long_vocabulary_is_truncated_but_unknown_values_are_always_named():
    vocab = onehot.Vocabulary([f"label{i}" for i in range(100)])
    with pytest.raises(Unprocessable) as info:
        onehot.encode(vocab, [["label3", "nope", "also-nope"]], multi=True)
    message = info.value.message
    assert "unknown label(s) ['nope', 'also-nope']" in message
    assert "'label19', ... (+80 more)]" in message and "'label20'" not in message


def test_ignore_drops_unknown_labels_and_reports_them():
    encoded = onehot.encode(VOCAB, [["en", "xx"], ["yy"]], multi=True, unknown="ignore")
    assert encoded.indices == [[2], []]
    assert encoded.ignored == ["xx", "yy"]


def test_vocabulary_must_be_unique_and_non_empty():
    with pytest.raises(Unprocessable, match=r"vocabulary entries must be unique, repeated: \['a'\]"):
        onehot.Vocabulary(["a", "b", "a"])
    with pytest.raises(Unprocessable, match="the vocabulary is empty"):
        onehot.Vocabulary([])


@pytest.mark.parametrize(
    ("vectors", "message"),
    [
        ([[0, 1, 0]], "vectors[0]: expected 5 values (the vocabulary size), received 3"),
        ([[0] * 5, [0, float("nan"), 0, 0, 0]], "vectors[1]: NaN or Inf values are not allowed"),
    ],
)
def test_bad_vectors(vectors, message):
    with pytest.raises(Unprocessable) as info:
        onehot.decode_dense(VOCAB, vectors, multi=True)
    assert info.value.message == message


def test_sparse_indices_must_be_in_range():
    with pytest.raises(Unprocessable, match=r"^indices\[0\]: \[5, -1\] outside the vocabulary of 5 labels \(0..4\)$"):
        onehot.decode_sparse(VOCAB, [[5, 1, -1]], multi=True)
    with pytest.raises(Unprocessable, match=r"one-hot takes at most one index per item, received 2"):
        onehot.decode_sparse(VOCAB, [[0, 1]], multi=False)
