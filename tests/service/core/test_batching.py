"""The batcher in plain asyncio: no server, no ONNX Runtime; `execute` is a Python function."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.core.batch_results import BatchObserver
from service.core.batching import Batcher
from service.core.config import ModelConfig
from service.core.errors import DeadlineExceeded, ModelExecutionError, Overloaded, ShuttingDown
from service.core.request import Deadline

CONFIG = ModelConfig.model_validate({
    "name": "m",
    "max_batch_size": 4,
    "dynamic_batching": {"max_queue_delay_microseconds": 50_000, "max_queue_size": 6},
    "input": [{"name": "x", "datatype": "FP32", "dims": [2]}],
    "output": [{"name": "y", "datatype": "FP32", "dims": [2]}],
})


class Recorder:
    """execute() that doubles x, records batch sizes, and can be held to simulate a busy model."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = fail

    def __call__(self, inputs):
        self.gate.wait(5)
        self.batches.append(inputs["x"].shape[0])
        if self.fail:
            raise RuntimeError("boom")
        return {"y": inputs["x"] * 2}


def x(value: float, rows: int = 1) -> dict:
    return {"x": np.full((rows, 2), value, dtype=np.float32)}


@pytest.fixture
def executor():
    with ThreadPoolExecutor(2) as pool:
        yield pool


async def started(batcher: Batcher) -> Batcher:
    batcher.start()
    return batcher


async def test_idle_model_dispatches_at_once(executor):
    # A 10 s queue delay: waiting for it would be unmistakable on any machine.
    config = CONFIG.model_copy(update={"dynamic_batching": CONFIG.dynamic_batching.model_copy(
        update={"max_queue_delay_microseconds": 10_000_000})})
    rec = Recorder()
    batcher = await started(Batcher(config, rec, executor))
    t0 = time.monotonic()
    result = await batcher.submit(x(1.0))
    elapsed = time.monotonic() - t0
    assert elapsed < 5.0
    assert result.batch_rows == 1
    np.testing.assert_array_equal(result.outputs["y"], [[2.0, 2.0]])
    await batcher.close(1)


async def test_batch_grows_while_busy_and_closes_on_size(executor):
    rec = Recorder()
    batcher = await started(Batcher(CONFIG, rec, executor))
    rec.gate.clear()
    first = asyncio.ensure_future(batcher.submit(x(0.0)))
    await asyncio.sleep(0.01)  # first batch is now running (held by the gate)
    rest = [asyncio.ensure_future(batcher.submit(x(float(i)))) for i in range(1, 6)]
    await asyncio.sleep(0.01)
    rec.gate.set()
    results = await asyncio.gather(first, *rest)
    # 1 alone, then a full batch of 4, then the leftover 1.
    assert rec.batches == [1, 4, 1]
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result.outputs["y"], [[2.0 * i, 2.0 * i]])
    await batcher.close(1)


async def test_batch_closes_on_delay_counted_from_first_request():
    config = CONFIG.model_copy(update={"dynamic_batching": CONFIG.dynamic_batching.model_copy(
        update={"instance_count": 2, "max_queue_delay_microseconds": 30_000})})
    rec = Recorder()
    slow_gate = threading.Event()

    def execute(inputs):
        if inputs["x"][0, 0] < 0:  # the "long" request keeps one instance busy
            slow_gate.wait(5)
        return rec(inputs)

    with ThreadPoolExecutor(2) as pool:
        batcher = await started(Batcher(config, execute, pool))
        busy = asyncio.ensure_future(batcher.submit(x(-1.0)))
        await asyncio.sleep(0.01)
        t0 = time.monotonic()
        a = asyncio.ensure_future(batcher.submit(x(1.0)))
        await asyncio.sleep(0.01)
        b = asyncio.ensure_future(batcher.submit(x(2.0)))
        ra, rb = await asyncio.gather(a, b)
        waited = time.monotonic() - t0
        # The second instance was free, but something was running, so the batch
        # waited for the delay (30 ms from the first request) and took both.
        assert ra.batch_rows == 2 and rb.batch_rows == 2
        assert 0.025 <= waited < 2.5  # well under the 5 s the busy instance is held
        slow_gate.set()
        await busy
        await batcher.close(1)


async def test_model_error_fans_out_to_every_request(executor):
    rec = Recorder(fail=True)
    batcher = await started(Batcher(CONFIG, rec, executor))
    rec.gate.clear()
    futures = [asyncio.ensure_future(batcher.submit(x(float(i)))) for i in range(3)]
    await asyncio.sleep(0.01)
    rec.gate.set()
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert all(isinstance(r, ModelExecutionError) for r in results)
    assert "boom" in str(results[0])
    await batcher.close(1)


async def test_cancelled_request_is_dropped_before_it_runs(executor):
    rec = Recorder()
    batcher = await started(Batcher(CONFIG, rec, executor))
    rec.gate.clear()
    running = asyncio.ensure_future(batcher.submit(x(1.0)))
    await asyncio.sleep(0.01)
    doomed = asyncio.ensure_future(batcher.submit(x(7.0)))
    kept = asyncio.ensure_future(batcher.submit(x(3.0)))
    await asyncio.sleep(0.01)
    doomed.cancel()
    rec.gate.set()
    await asyncio.gather(running, kept)
    assert rec.batches == [1, 1]  # the cancelled request never reached the model
    with pytest.raises(asyncio.CancelledError):
        await doomed
    await batcher.close(1)


async def test_full_queue_rejects_with_retry_after(executor):
    rec = Recorder()
    batcher = await started(Batcher(CONFIG, rec, executor))
    rec.gate.clear()
    first = asyncio.ensure_future(batcher.submit(x(0.0)))
    await asyncio.sleep(0.01)
    queued = [asyncio.ensure_future(batcher.submit(x(1.0))) for _ in range(6)]
    await asyncio.sleep(0)
    with pytest.raises(Overloaded) as info:
        await batcher.submit(x(2.0))
    assert "queue is full (max_queue_size=6)" in str(info.value)
    assert info.value.retry_after == 1.0
    rec.gate.set()
    await asyncio.gather(first, *queued)
    await batcher.close(1)


async def test_deadline_expires_in_queue(executor):
    rec = Recorder()
    batcher = await started(Batcher(CONFIG, rec, executor))
    rec.gate.clear()
    first = asyncio.ensure_future(batcher.submit(x(0.0)))
    await asyncio.sleep(0.01)
    with pytest.raises(DeadlineExceeded, match="timed out after 0.02 s"):
        await batcher.submit(x(1.0), Deadline.after(0.02))
    rec.gate.set()
    await first
    assert rec.batches == [1]  # the expired request was never computed
    await batcher.close(1)


class Picky(Recorder):
    """Fails any batch holding a negative x, quoting every value of the batch (as ORT quotes an index)."""

    def __call__(self, inputs):
        self.gate.wait(5)
        self.batches.append(inputs["x"].shape[0])
        values = inputs["x"][:, 0].tolist()
        if min(values) < 0:
            raise ValueError(f"bad values {values}")
        return {"y": inputs["x"] * 2}


async def held_batch(batcher: Batcher, rec: Recorder, values: list[float]) -> list:
    """Submit `values` while a first request holds the model, so they share one batch."""
    rec.gate.clear()
    blocker = asyncio.ensure_future(batcher.submit(x(100.0)))
    await asyncio.sleep(0.02)
    futures = [asyncio.ensure_future(batcher.submit(x(v))) for v in values]
    await asyncio.sleep(0.02)
    rec.gate.set()
    await blocker
    return await asyncio.gather(*futures, return_exceptions=True)


async def test_a_failing_request_fails_alone_and_its_error_holds_only_its_values(executor):
    rec = Picky()
    batcher = await started(Batcher(CONFIG, rec, executor))
    results = await held_batch(batcher, rec, [1.0, -7.0, 3.0, 4.0])
    assert [r.outputs["y"][0, 0] for i, r in enumerate(results) if i != 1] == [2.0, 6.0, 8.0]
    assert isinstance(results[1], ModelExecutionError)
    assert results[1].message == "model 'm' failed: bad values [-7.0]"
    # The batch of 4 failed; its first half failed and ran as two singles; the second half passed.
    assert rec.batches == [1, 4, 2, 1, 1, 2]
    await batcher.close(1)


async def test_a_request_that_failed_alone_runs_alone_next_time(executor):
    rec = Picky()
    batcher = await started(Batcher(CONFIG, rec, executor))
    await held_batch(batcher, rec, [-7.0])
    assert len(batcher.quarantine) == 1
    rec.batches.clear()
    results = await held_batch(batcher, rec, [1.0, -7.0, 3.0])
    assert isinstance(results[1], ModelExecutionError) and results[1].message.endswith("bad values [-7.0]")
    assert [results[0].outputs["y"][0, 0], results[2].outputs["y"][0, 0]] == [2.0, 6.0]
    # The known-bad request ran on its own; the others shared one batch that did not fail.
    assert sorted(rec.batches) == [1, 1, 2]
    await batcher.close(1)


async def test_close_drains_accepted_then_refuses(executor):
    rec = Recorder()
    batcher = await started(Batcher(CONFIG, rec, executor))
    rec.gate.clear()
    accepted = [asyncio.ensure_future(batcher.submit(x(float(i)))) for i in range(5)]
    await asyncio.sleep(0.01)
    closing = asyncio.ensure_future(batcher.close(5))
    await asyncio.sleep(0.01)
    with pytest.raises(ShuttingDown):
        await batcher.submit(x(9.0))
    rec.gate.set()
    results = await asyncio.gather(*accepted)
    await closing
    assert [r.outputs["y"][0, 0] for r in results] == [0.0, 2.0, 4.0, 6.0, 8.0]


async def test_close_fails_what_cannot_drain_in_time(executor):
    rec = Recorder()
    batcher = await started(Batcher(CONFIG, rec, executor))
    rec.gate.clear()
    first = asyncio.ensure_future(batcher.submit(x(0.0)))
    await asyncio.sleep(0.01)
    stuck = asyncio.ensure_future(batcher.submit(x(1.0)))
    await asyncio.sleep(0.01)
    await batcher.close(0.05)
    with pytest.raises(ShuttingDown, match="shut down before the request could run"):
        await stuck
    rec.gate.set()
    await first


async def test_disabled_batching_runs_one_request_per_execution(executor):
    rec = Recorder()
    batcher = await started(Batcher(CONFIG, rec, executor, disable_batching=True))
    rec.gate.clear()
    futures = [asyncio.ensure_future(batcher.submit(x(float(i)))) for i in range(4)]
    await asyncio.sleep(0.01)
    rec.gate.set()
    await asyncio.gather(*futures)
    assert rec.batches == [1, 1, 1, 1]
    await batcher.close(1)


TWO_OUTPUTS = CONFIG.model_copy(update={"output": [
    *CONFIG.output, CONFIG.output[0].model_copy(update={"name": "z"})]})


class Fetching:
    """execute() that answers y = 2x and z = 3x, only those asked for, recording each fetch list."""

    def __init__(self) -> None:
        self.fetched: list[list[str] | None] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, inputs, outputs=None):
        self.gate.wait(5)
        self.fetched.append(outputs)
        every = {"y": inputs["x"] * 2, "z": inputs["x"] * 3}
        return every if outputs is None else {name: every[name] for name in outputs}


async def test_a_batch_fetches_only_the_union_of_the_requested_outputs(executor):
    fetch = Fetching()
    batcher = await started(Batcher(TWO_OUTPUTS, fetch, executor))
    fetch.gate.clear()
    first = asyncio.ensure_future(batcher.submit(x(1.0), outputs=frozenset({"y"})))
    await asyncio.sleep(0.01)  # running alone, held by the gate
    both = [asyncio.ensure_future(batcher.submit(x(float(i)), outputs=frozenset({"y"}))) for i in (2, 3)]
    await asyncio.sleep(0.01)
    fetch.gate.set()
    results = await asyncio.gather(first, *both)
    assert fetch.fetched == [["y"], ["y"]]
    assert [sorted(r.outputs) for r in results] == [["y"], ["y"], ["y"]]
    np.testing.assert_array_equal(results[2].outputs["y"], [[6.0, 6.0]])

    fetch.gate.clear()
    first = asyncio.ensure_future(batcher.submit(x(1.0), outputs=frozenset({"y"})))
    await asyncio.sleep(0.01)
    mixed = [asyncio.ensure_future(batcher.submit(x(2.0), outputs=frozenset({"z"}))),
             asyncio.ensure_future(batcher.submit(x(3.0), outputs=frozenset({"y"})))]
    await asyncio.sleep(0.01)
    fetch.gate.set()
    _, z_only, y_only = await asyncio.gather(first, *mixed)
    assert fetch.fetched[-1] == ["y", "z"]  # one batch, the union
    # Each request gets what it asked for and no copy of the rest.
    assert list(z_only.outputs) == ["z"] and list(y_only.outputs) == ["y"]
    np.testing.assert_array_equal(z_only.outputs["z"], [[6.0, 6.0]])

    # A request that names no outputs gets them all, and so does its batch.
    everything = await batcher.submit(x(1.0))
    assert fetch.fetched[-1] is None and sorted(everything.outputs) == ["y", "z"]
    await batcher.close(1)


async def test_a_batch_reports_building_running_and_slicing_apart(executor):
    """Triton's compute_input / compute_infer / compute_output: the runtime call is timed on its
    own, and stacking the requests and slicing the answers are timed around it."""
    seen: list[tuple[int, float, float, float]] = []
    rec = Recorder()
    rec.gate.clear()
    observer = BatchObserver(on_batch=lambda *args: seen.append(args))
    batcher = await started(Batcher(CONFIG, rec, executor, observer=observer))
    first = asyncio.ensure_future(batcher.submit(x(1.0)))  # runs alone, holding the model
    await asyncio.sleep(0.02)
    rest = [asyncio.ensure_future(batcher.submit(x(float(i)))) for i in range(3)]
    await asyncio.sleep(0.02)
    rec.gate.set()
    results = await asyncio.gather(first, *rest)
    assert [r.batch_rows for r in results] == [1, 3, 3, 3]
    (rows1, infer1, _, _), (rows3, infer3, in3, out3) = seen
    assert (rows1, rows3) == (1, 3)
    assert infer1 >= 0.015  # the held call
    assert 0 < in3 < infer1 and 0 < out3 < infer1  # numpy stacking and slicing: microseconds
    assert {(r.input_s, r.compute_s, r.output_s) for r in results[1:]} == {(in3, infer3, out3)}
    assert results[1].queue_s >= 0.015  # waited for the held call before its batch was built
    await batcher.close(1)


async def test_a_deadline_already_passed_is_refused_before_queueing(executor):
    rec = Recorder()
    batcher = await started(Batcher(CONFIG, rec, executor))
    with pytest.raises(DeadlineExceeded, match=r"^model 'm': request timed out after 0.001 s$"):
        await batcher.submit(x(1.0), Deadline(0.001, at=0.0))
    assert rec.batches == [] and batcher.queue_depth == 0
    await batcher.close(1)
