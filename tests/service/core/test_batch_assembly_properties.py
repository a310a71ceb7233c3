"""Property-based tests of batch padding: unstack(stack(x)) gives every request back exactly.

The "model" here is the identity on the padded batch (each output is an input,
with the same axis names), so whatever unstack returns must be exactly what the
request sent, whatever lengths and row counts share the batch.
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from service.core import batch_assembly
from service.core.config import ModelConfig

budget = settings(max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "100")), deadline=None)

# Two named axes: frames [time, 3], tokens and their mask [seq], a fixed input and a per-row scalar.
CONFIG = ModelConfig.model_validate({
    "name": "padded",
    "max_batch_size": 64,
    "input": [
        {"name": "frames", "datatype": "FP32", "dims": [-1, 3], "axis_names": ["time", None], "pad_value": -7.5},
        {"name": "tokens", "datatype": "INT64", "dims": [-1], "axis_names": ["seq"], "pad_value": 0},
        {"name": "mask", "datatype": "BOOL", "dims": [-1], "axis_names": ["seq"]},
        {"name": "fixed", "datatype": "FP32", "dims": [2]},
        {"name": "length", "datatype": "INT64", "dims": []},
    ],
    "output": [
        {"name": "frames", "datatype": "FP32", "dims": [-1, 3], "axis_names": ["time", None]},
        {"name": "tokens", "datatype": "INT64", "dims": [-1], "axis_names": ["seq"]},
        {"name": "mask", "datatype": "BOOL", "dims": [-1], "axis_names": ["seq"]},
        {"name": "fixed", "datatype": "FP32", "dims": [2]},
        {"name": "length", "datatype": "INT64", "dims": []},
    ],
})
PAD = {"frames": -7.5, "tokens": 0, "mask": False}
AXIS = {"frames": "time", "tokens": "seq", "mask": "seq"}


@st.composite
def request(draw) -> dict[str, np.ndarray]:
    rows = draw(st.integers(1, 3))
    time_len, seq_len = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return {
        "frames": rng.normal(size=(rows, time_len, 3)).astype(np.float32),
        "tokens": rng.integers(1, 1000, size=(rows, seq_len)),
        "mask": np.ones((rows, seq_len), dtype=bool),
        "fixed": rng.normal(size=(rows, 2)).astype(np.float32),
        "length": np.full((rows,), time_len, dtype=np.int64),
    }


@budget
@given(st.lists(request(), min_size=1, max_size=8))
def test_unstack_of_stack_restores_every_request_exactly(requests):
    batch, parts = batch_assembly.stack(CONFIG, requests)
    results = batch_assembly.unstack(CONFIG, dict(batch), parts)  # identity model
    assert len(results) == len(requests)
    for sent, got in zip(requests, results):
        assert set(got) == set(sent)
        for name in sent:
            assert got[name].dtype == sent[name].dtype
            np.testing.assert_array_equal(got[name], sent[name])


@budget
@given(st.lists(request(), min_size=1, max_size=8))
def test_stack_pads_to_the_longest_with_the_declared_value(requests):
    batch, parts = batch_assembly.stack(CONFIG, requests)
    rows = sum(r["frames"].shape[0] for r in requests)
    longest = {ax: max(r[n].shape[1] for r in requests) for n, ax in AXIS.items()}
    assert batch["frames"].shape == (rows, longest["time"], 3)
    assert batch["tokens"].shape == batch["mask"].shape == (rows, longest["seq"])
    assert batch["fixed"].shape == (rows, 2) and batch["length"].shape == (rows,)
    for part, sent in zip(parts, requests):
        for name, axis in AXIS.items():
            own = sent[name].shape[1]
            assert part.lengths[axis] == own
            block = batch[name][part.start : part.stop]
            np.testing.assert_array_equal(block[:, :own], sent[name])
            assert (block[:, own:] == PAD[name]).all()  # padding only where the request had nothing


@budget
@given(st.lists(request(), min_size=2, max_size=6))
def test_named_axes_do_not_split_batches_but_fixed_dims_do(requests):
    keys = {batch_assembly.batch_key(CONFIG, r) for r in requests}
    assert len(keys) == 1  # lengths differ, fixed dims agree: one batch
    odd = dict(requests[0], fixed=np.zeros((requests[0]["fixed"].shape[0], 3), np.float32))
    assert batch_assembly.batch_key(CONFIG, odd) not in keys
