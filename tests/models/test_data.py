"""Data loaders: documented shapes and classes, fixed splits, and users' own IDX / CSV files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.data_images import (
    area_resize,
    load_digits_arrays,
    load_idx_images,
    load_image_data,
    read_idx,
    write_idx,
)
from models.data_text import (
    LANGUAGES,
    MAX_SHARED,
    load_cldr,
    load_csv,
    load_text_data,
    split_by_text,
    split_labels,
)
from models.data_vowels import CHANNELS, load_vowels, pad_batch, parse_ts


def test_digits_are_1797_images_of_8x8_in_unit_range_with_10_classes():
    images, labels = load_digits_arrays()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert sorted(set(labels.tolist())) == list(range(10))


def test_digits_split_is_fixed_and_stratified():
    first, second = load_image_data("digits", 0.2, 0), load_image_data("digits", 0.2, 0)
    assert len(first.y_train) == 1437 and len(first.y_test) == 360
    np.testing.assert_array_equal(first.test_index, second.test_index)
    assert first.record["test_index_sha256"] == second.record["test_index_sha256"]
    assert set(np.bincount(first.y_test).tolist()) <= {35, 36, 37}


def test_vowels_standard_split_shapes_and_speakers():
    train, test = load_vowels("train"), load_vowels("test")
    assert (len(train), len(test)) == (270, 370)
    lengths = np.concatenate([train.lengths, test.lengths])
    assert lengths.min() == 7 and lengths.max() == 29
    assert all(seq.shape[1] == CHANNELS and seq.dtype == np.float32 for seq in train.sequences)
    assert sorted(set(train.labels.tolist())) == list(range(9)) == sorted(set(test.labels.tolist()))
    assert np.bincount(train.labels).tolist() == [30] * 9


def test_ts_parser_reads_a_small_file(tmp_path: Path):
    path = tmp_path / "tiny.ts"
    path.write_text("# comment\n@problemName tiny\n@dimensions 2\n@data\n1,2,3:4,5,6:a\n7,8:9,10:b\n")
    sequences, labels = parse_ts(path)
    assert labels == ["a", "b"]
    np.testing.assert_array_equal(sequences[0], [[1, 4], [2, 5], [3, 6]])
    assert sequences[1].shape == (2, 2)


def test_ts_parser_rejects_ragged_channels(tmp_path: Path):
    path = tmp_path / "bad.ts"
    path.write_text("@data\n1,2,3:4,5:a\n")
    with pytest.raises(ValueError, match="bad.ts:2: channels have different lengths"):
        parse_ts(path)


def test_pad_batch_pads_right_with_zeros_and_reports_lengths():
    frames, lengths = pad_batch([np.ones((2, 3), np.float32), np.ones((4, 3), np.float32)])
    assert frames.shape == (2, 4, 3) and lengths.tolist() == [2, 4]
    assert frames[0, 2:].sum() == 0.0


def test_cldr_corpus_has_40_languages_and_multi_label_strings():
    data = load_cldr()
    assert data.classes == LANGUAGES and len(LANGUAGES) == 40
    assert 30_000 < len(data) < 80_000
    assert all(0 < len(labels) < MAX_SHARED for labels in data.labels)
    shared = [t for t, labels in zip(data.texts, data.labels) if {"bg", "ru"} <= set(labels)]
    assert shared, "CLDR has names spelled identically in Bulgarian and Russian"
    assert len(set(data.texts)) == len(data.texts)


def test_text_split_is_by_unique_string_and_fixed():
    data = load_text_data("cldr")
    train, test, record = split_by_text(data, 0.2, 0)
    assert not set(train) & set(test) and len(train) + len(test) == len(data)
    assert record["test_texts_sha256"] == split_by_text(data, 0.2, 0)[2]["test_texts_sha256"]


def test_idx_round_trip_plain_and_gzipped(tmp_path: Path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        write_idx(tmp_path / name, array)
        np.testing.assert_array_equal(read_idx(tmp_path / name), array)


def test_idx_rejects_a_file_that_is_not_idx(tmp_path: Path):
    (tmp_path / "x").write_bytes(b"PK\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "x")


def test_idx_rejects_truncated_data(tmp_path: Path):
    write_idx(tmp_path / "x", np.zeros((2, 3), np.uint8))
    (tmp_path / "x").write_bytes((tmp_path / "x").read_bytes()[:-1])
    with pytest.raises(ValueError, match="header promises 6 bytes of data, found 5"):
        read_idx(tmp_path / "x")


def test_idx_images_are_area_resized_to_8x8(idx_files):
    images, labels = load_idx_images(*idx_files)
    assert images.shape == (60, 1, 8, 8) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert labels.tolist()[:3] == [0, 1, 2]
    # the class is a bar's horizontal position: columns differ between classes
    assert np.argmax(images[0, 0].sum(0)) < np.argmax(images[2, 0].sum(0))


def test_idx_training_option_splits_users_data(idx_files):
    split = load_image_data(f"idx:{idx_files[0]},{idx_files[1]}", 0.2, 0)
    assert len(split.y_train) == 48 and len(split.y_test) == 12
    assert split.record["method"].startswith("IDX images-idx3-ubyte.gz")


def test_bad_data_option_names_the_expected_forms():
    with pytest.raises(ValueError, match=r"'idx:<images>,<labels>'"):
        load_image_data("mnist.gz", 0.2, 0)
    with pytest.raises(ValueError, match=r"'csv:<path>'"):
        load_text_data("tsv:x")


def test_area_resize_matches_block_mean():
    image = np.zeros((1, 32, 32))
    image[0, :4, :4] = 1.0
    small = area_resize(image)
    assert small.shape == (1, 8, 8) and small[0, 0, 0] == 1.0 and small.sum() == 1.0


def test_csv_loader_merges_duplicates_and_splits_labels(text_csv):
    data = load_csv(text_csv)
    assert data.classes == ["xx", "yy", "zz"]
    assert data.labels[data.texts.index("shared")] == ["xx", "yy"]
    assert len(set(data.texts)) == len(data.texts)


def test_csv_labels_may_be_separated_by_bar_or_space(tmp_path: Path):
    path = tmp_path / "a.csv"
    path.write_text('hello,en\n"bonjour, salut",fr be\nhej,sv|da\nhello,de\n', encoding="utf-8")
    data = load_csv(path)
    assert dict(zip(data.texts, data.labels)) == {
        "bonjour, salut": ["be", "fr"], "hej": ["da", "sv"], "hello": ["de", "en"]}
    assert split_labels(" a | b  c ") == ["a", "b", "c"]


def test_csv_rejects_a_row_without_labels(tmp_path: Path):
    path = tmp_path / "bad.csv"
    path.write_text("text,labels\nhello,\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.csv:2: empty text or labels"):
        load_csv(path)
