"""Idle-aware dynamic batching: a bounded queue, one future per request.

Rules (GUIDE §3):
- An idle model dispatches whatever is queued at once: batching never adds
  latency at concurrency 1.
- While an execution is in flight, requests accumulate. A free instance then
  takes a batch when it is full (max_batch_size rows), when the queue delay,
  counted from the first queued request, runs out, or when nothing runs any more.
- Cancelled and expired requests are dropped before they run; every future is
  resolved on every path (result, model error, deadline, shutdown).
- Batch isolation (isolation.py): a batch that fails is bisected until the
  request that caused it has run alone; only that one gets the error.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from . import batch_assembly
from .batch_results import BatchObserver, Result
from .config import ModelConfig
from .errors import DeadlineExceeded, ModelExecutionError, Overloaded, ServiceError, ShuttingDown
from .isolation import Quarantine, digest
from .request import Deadline

# One runtime call: execute(inputs) fetches every declared output, execute(inputs, names) only those.
Execute = Callable[..., dict[str, np.ndarray]]


@dataclass
class _Pending:
    inputs: dict[str, np.ndarray]
    rows: int
    key: tuple[Any, ...]
    future: asyncio.Future[Result]
    enqueued: float
    deadline: float | None = None
    # The outputs this request asked for (None: all of them); a batch fetches their union.
    outputs: frozenset[str] | None = None
    trace: Any = None  # the request's RequestTrace when it is traced (core/tracing)


def _expire(future: asyncio.Future[Result], name: str, timeout_s: float) -> None:
    if not future.done():
        future.set_exception(DeadlineExceeded(f"request timed out after {timeout_s:g} s", model=name))


class Batcher:
    def __init__(
        self,
        config: ModelConfig,
        execute: Execute,
        executor: Executor,
        *,
        disable_batching: bool = False,
        observer: BatchObserver | None = None,
    ) -> None:
        self.config = config
        self._execute = execute
        self._executor = executor
        self._observer = observer or BatchObserver()
        knobs = config.dynamic_batching
        self.max_rows = config.max_batch_size if config.batched else 1
        self.batching = config.batched and not disable_batching and config.max_batch_size > 1
        self.max_queue_size = knobs.max_queue_size
        self.delay_s = knobs.max_queue_delay_microseconds / 1e6
        self.instances = knobs.instance_count
        self._queue: deque[_Pending] = deque()
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._signal = asyncio.Event()
        self._closing = False
        self._loop_task: asyncio.Task[None] | None = None
        self.quarantine = Quarantine()

    # -- public API ---------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def idle(self) -> bool:
        return not self._queue and self._running == 0

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.get_running_loop().create_task(self._dispatch_loop())

    async def submit(
        self, inputs: dict[str, np.ndarray], deadline: Deadline | None = None, outputs: frozenset[str] | None = None,
        trace: Any = None,
    ) -> Result:
        """Queue one request the repository has checked (validation.py; inputs carry a
        batch axis when the model is batched) and await its own result or error.

        `outputs` limits what is fetched from the runtime for it (None: every output);
        its result holds at least those."""
        name = self.config.name
        if self._closing:
            raise ShuttingDown("is shutting down and accepts no new requests", model=name, sep=" ")
        if len(self._queue) >= self.max_queue_size:
            raise Overloaded(f"queue is full (max_queue_size={self.max_queue_size}); retry later", model=name)
        remaining = None
        if deadline is not None:
            remaining = deadline.remaining()
            if remaining <= 0:  # it passed while the request was decoded or checked
                raise DeadlineExceeded(f"request timed out after {deadline.seconds:g} s", model=name)
        rows = next(iter(inputs.values())).shape[0] if self.config.batched else 1
        loop = asyncio.get_running_loop()
        key = batch_assembly.batch_key(self.config, inputs) if self.config.batched else ()
        if self.quarantine and digest(inputs) in self.quarantine:
            key = ("alone", object())  # failed alone before: shares no batch, costs one run
        pending = _Pending(inputs, rows, key, loop.create_future(), time.monotonic(),
                           None if deadline is None else deadline.at, outputs, trace)
        if not self._queue and (self._running == 0 or (not self.batching and self._running < self.instances)):
            # Idle: run it now, as the dispatcher would (it lets batches grow only while something
            # runs). Waking it to take this one would cost an event round trip and a loop iteration.
            self._start([pending])
        else:
            self._queue.append(pending)
            self._observer.on_queue_depth(len(self._queue))
            self._signal.set()
        # One timer that fails the future, rather than wait_for(shield(...)): same answer,
        # a fraction of the per-request cost. A done future is skipped by the dispatcher.
        timer = None
        if deadline is not None and remaining is not None:
            timer = loop.call_later(remaining, _expire, pending.future, name, deadline.seconds)
        try:
            return await pending.future
        except asyncio.CancelledError:
            # Client went away: mark it so the dispatcher skips it.
            pending.future.cancel()
            raise
        finally:
            if timer is not None:
                timer.cancel()

    async def close(self, drain_timeout_s: float) -> None:
        """Stop accepting, finish what was accepted (up to the timeout), fail the rest."""
        self._closing = True
        self._signal.set()
        deadline = time.monotonic() + drain_timeout_s
        while not self.idle and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        for pending in self._queue:
            if not pending.future.done():
                pending.future.set_exception(
                    ShuttingDown("shut down before the request could run", model=self.config.name, sep=" "))
        self._queue.clear()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=max(0.0, deadline - time.monotonic()) + 1.0)
        if self._loop_task:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)

    # -- dispatcher ----------------------------------------------------------

    def _prune(self) -> None:
        now = time.monotonic()
        kept: deque[_Pending] = deque()
        for pending in self._queue:
            if pending.future.done():
                continue  # cancelled by a disconnect or timeout
            if pending.deadline is not None and now >= pending.deadline:
                pending.future.set_exception(DeadlineExceeded("request expired in the queue", model=self.config.name))
                continue
            kept.append(pending)
        if len(kept) != len(self._queue):
            self._observer.on_queue_depth(len(kept))  # what was dropped no longer waits
        self._queue = kept

    def _compatible_rows(self) -> int:
        head = self._queue[0]
        return sum(p.rows for p in self._queue if p.key == head.key)

    def _take(self) -> list[_Pending]:
        head = self._queue.popleft()
        batch, rows = [head], head.rows
        if self.batching:
            rest: deque[_Pending] = deque()
            for pending in self._queue:
                if pending.key == head.key and rows + pending.rows <= self.max_rows:
                    batch.append(pending)
                    rows += pending.rows
                else:
                    rest.append(pending)
            self._queue = rest
        self._observer.on_queue_depth(len(self._queue))
        return batch

    async def _dispatch_loop(self) -> None:
        while True:
            self._signal.clear()
            self._prune()
            if not self._queue or self._running >= self.instances:
                await self._signal.wait()
                continue
            if self.batching and self._running > 0 and not self._closing:
                # Busy: let the batch grow until full or the delay runs out.
                remaining = self._queue[0].enqueued + self.delay_s - time.monotonic()
                if remaining > 0 and self._compatible_rows() < self.max_rows:
                    try:
                        await asyncio.wait_for(self._signal.wait(), remaining)
                    except TimeoutError:
                        pass
                    continue
            self._start(self._take())

    def _start(self, batch: list[_Pending]) -> None:
        self._running += 1
        task = asyncio.get_running_loop().create_task(self._run_batch(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute_batch(self, batch: list[_Pending]) -> tuple[list[dict[str, np.ndarray]], float, float, float, float]:
        """One runtime call for `batch`: (outputs per request, start, seconds stacking, computing, slicing)."""
        began = time.monotonic()
        if self.config.batched:
            inputs, parts = batch_assembly.stack(self.config, [p.inputs for p in batch])
        else:
            inputs, parts = batch[0].inputs, []
        wanted = [p.outputs for p in batch]
        # Only what some request asked for: the Transformer's attention maps are
        # [layers, heads, seq, seq] per item, worth skipping when nobody reads them.
        fetch = None if None in wanted else sorted(set().union(*(w for w in wanted if w is not None)))
        call = partial(self._execute, inputs) if fetch is None else partial(self._execute, inputs, fetch)
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        outputs = await loop.run_in_executor(self._executor, call)
        compute = time.monotonic() - started
        per_request = batch_assembly.unstack(self.config, outputs, parts, wanted) if self.config.batched else [outputs]
        if len(per_request) != len(batch):  # never trust zip with other people's answers
            raise ModelExecutionError(
                f"{len(per_request)} results for a batch of {len(batch)} requests", model=self.config.name)
        output_s = time.monotonic() - started - compute
        self._observer.on_batch(sum(p.rows for p in batch), compute, started - began, output_s)
        return per_request, began, started - began, compute, output_s

    async def _run_group(self, batch: list[_Pending]) -> None:
        """Run `batch`; if it fails, bisect until each failing request has run alone."""
        batch = [p for p in batch if not p.future.done()]  # cancelled while a half ran
        if not batch:
            return
        rows = sum(p.rows for p in batch)
        try:
            per_request, began, input_s, compute, output_s = await self._execute_batch(batch)
        except Exception as exc:
            if len(batch) > 1:
                # The error may quote any request's values, so nobody sees it:
                # each half runs again and only a request that fails alone is told.
                half = len(batch) // 2
                await self._run_group(batch[:half])
                await self._run_group(batch[half:])
                return
            pending = batch[0]
            self.quarantine.add(digest(pending.inputs))
            if not pending.future.done():
                pending.future.set_exception(self._error(exc))
            return
        traced = [p for p in batch if p.trace is not None]
        if traced:
            self._observer.on_traced(traced, began, input_s, compute, output_s, rows)
        for pending, result in zip(batch, per_request):
            if not pending.future.done():
                pending.future.set_result(Result(result, began - pending.enqueued, compute, rows, input_s, output_s))

    def _error(self, exc: Exception) -> ServiceError:
        if isinstance(exc, ServiceError):
            return exc
        return ModelExecutionError(f"failed: {exc}", model=self.config.name, sep=" ")

    async def _run_batch(self, batch: list[_Pending]) -> None:
        try:
            await self._run_group(batch)
        except BaseException as exc:  # a bug in the batcher itself: still resolve every future
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(self._error(exc) if isinstance(exc, Exception) else ShuttingDown(
                        "stopped before the request could run", model=self.config.name, sep=" "))
            if not isinstance(exc, Exception):
                raise
        finally:
            self._running -= 1
            self._signal.set()
