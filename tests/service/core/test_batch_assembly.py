from __future__ import annotations

import numpy as np

from service.core import batch_assembly
from service.core.config import ModelConfig
from tests.tiny_models import AFFINE_CONFIG, SEQUENCE_CONFIG

SEQ = ModelConfig.model_validate(SEQUENCE_CONFIG)
AFF = ModelConfig.model_validate(AFFINE_CONFIG)


def seq_request(length: int, rows: int = 1, fill: float = 1.0) -> dict:
    return {
        "frames": np.full((rows, length, 3), fill, dtype=np.float32),
        "lengths": np.full((rows,), length, dtype=np.int64),
    }


def test_stack_pads_named_axes_to_the_longest():
    batch, parts = batch_assembly.stack(SEQ, [seq_request(2, fill=1.0), seq_request(5, rows=2, fill=3.0)])
    assert batch["frames"].shape == (3, 5, 3)
    np.testing.assert_array_equal(batch["frames"][0, 2:], 0.0)  # declared pad value
    np.testing.assert_array_equal(batch["frames"][0, :2], 1.0)
    np.testing.assert_array_equal(batch["lengths"], [2, 5, 5])
    assert [(p.start, p.stop, p.lengths) for p in parts] == [(0, 1, {"time": 2}), (1, 3, {"time": 5})]


def test_pad_value_is_taken_from_config():
    config = ModelConfig.model_validate(
        {**SEQUENCE_CONFIG, "input": [{**SEQUENCE_CONFIG["input"][0], "pad_value": -9.0}, SEQUENCE_CONFIG["input"][1]]}
    )
    batch, _ = batch_assembly.stack(config, [seq_request(1), seq_request(3)])
    np.testing.assert_array_equal(batch["frames"][0, 1:], -9.0)


def test_unstack_cuts_named_axes_back():
    requests = [seq_request(2), seq_request(4, rows=2)]
    batch, parts = batch_assembly.stack(SEQ, requests)
    outputs = {
        "doubled": batch["frames"] * 2,
        "total": batch["frames"].sum(axis=1),
        "twice_lengths": batch["lengths"] * 2,
    }
    first, second = batch_assembly.unstack(SEQ, outputs, parts)
    assert first["doubled"].shape == (1, 2, 3)
    assert second["doubled"].shape == (2, 4, 3)
    np.testing.assert_array_equal(first["twice_lengths"], [4])
    np.testing.assert_array_equal(second["total"], np.full((2, 3), 4.0))


def test_results_are_copies_not_views_of_the_batch():
    batch, parts = batch_assembly.stack(AFF, [{"x": np.ones((1, 4), np.float32)}, {"x": np.ones((1, 4), np.float32)}])
    out = batch_assembly.unstack(AFF, {"y": batch["x"], "z": batch["x"]}, parts)
    assert out[0]["y"].base is None


def test_batch_key_ignores_named_axes_only():
    assert batch_assembly.batch_key(SEQ, seq_request(2)) == batch_assembly.batch_key(SEQ, seq_request(7))
    unnamed = ModelConfig.model_validate({**AFFINE_CONFIG, "input": [{"name": "x", "datatype": "FP32", "dims": [-1]}],
                                          "output": [{"name": "y", "datatype": "FP32", "dims": [-1]}]})
    assert batch_assembly.batch_key(unnamed, {"x": np.ones((1, 3))}) != batch_assembly.batch_key(unnamed, {"x": np.ones((1, 4))})


def test_length_buckets_split_batches_by_the_longest_named_axis():
    knobs = {**SEQUENCE_CONFIG.get("dynamic_batching", {}), "length_buckets": [4, 8]}
    bucketed = ModelConfig.model_validate({**SEQUENCE_CONFIG, "dynamic_batching": knobs})
    key = [batch_assembly.batch_key(bucketed, seq_request(n)) for n in (1, 4, 5, 8, 9, 30)]
    assert key[0] == key[1] and key[2] == key[3] and key[4] == key[5]  # <=4, 5..8, past the last bound
    assert len(set(key)) == 3
    # Without buckets every length shares one key, as before.
    assert batch_assembly.batch_key(SEQ, seq_request(1)) == batch_assembly.batch_key(SEQ, seq_request(30))


def test_a_request_that_ran_alone_keeps_the_batch_buffer():
    batch, parts = batch_assembly.stack(AFF, [{"x": np.ones((2, 4), np.float32)}])
    y = batch["x"] * 2
    out = batch_assembly.unstack(AFF, {"y": y, "z": y}, parts)
    assert np.shares_memory(out[0]["y"], y)  # nobody else's rows in it: no copy needed
    np.testing.assert_array_equal(out[0]["y"], np.full((2, 4), 2.0))
