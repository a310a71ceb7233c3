"""Spans as the exporter sends them (decoded by an OTLP/HTTP receiver): a batch that served several
traced requests, its links both ways, the per-request children, a continued parent, a cache hit."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from service.core.errors import NotFound
from service.core.logs import trace_id as log_trace_id
from service.core.metrics import Metrics
from service.core.repository import ModelRepository
from service.core.request import InferRequest
from service.core.settings import Settings
from tests.otlp_receiver import Receiver
from tests.tiny_models import AFFINE_CONFIG, affine_graph, write_model

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
SERVER, INTERNAL = 2, 1  # OTLP's SpanKind values
ERROR = 2  # OTLP's StatusCode.STATUS_CODE_ERROR


@pytest.fixture
def receiver(monkeypatch):
    r = Receiver()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", r.endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "ortserve-test")
    yield r
    r.close()


@pytest.fixture
async def repo(tmp_path, receiver):
    write_model(tmp_path, {**AFFINE_CONFIG, "response_cache": {"enable": True}}, affine_graph())
    repository = ModelRepository(Settings(repository=tmp_path, warmup=False, trace_level="TIMESTAMPS",
                                          trace_rate=1, trace_log_frequency=1), Metrics())
    await repository.load_all()
    yield repository
    await repository.close()


async def traced_infer(repo, value: float, traceparent: str | None = None):
    trace = repo.tracing.begin("affine", traceparent, "vendor=v1" if traceparent else None, {"rpc.system": "test"})
    request = InferRequest("affine", None, {"x": np.full((1, 4), value, np.float32)}, trace=trace)
    try:
        return trace, await repo.infer(request)
    finally:
        trace.finish()


async def test_one_batch_serves_several_traced_requests_linked_both_ways(repo, receiver):
    traces = await asyncio.gather(*(traced_infer(repo, float(v)) for v in range(5)))
    # The first runs at once (idle model); the others queue behind it and share the next batch.
    spans = receiver.wait_for(lambda s: sum(x.name == "infer affine" for x in s) == 5
                              and sum(len(x.links) for x in s if x.name == "execute affine") == 5)
    roots = {s.span_id: s for s in spans if s.name == "infer affine"}
    batches = {s.span_id: s for s in spans if s.name == "execute affine"}
    assert {f"{t.span_id:016x}" for t, _ in traces} == set(roots)
    assert len(batches) == 2 and sorted(b.attributes["ortserve.batch.size"] for b in batches.values()) == [1, 4]
    for batch in batches.values():
        assert batch.parent_span_id == "" and batch.kind == INTERNAL  # a trace of its own
        assert batch.attributes["ortserve.provider"] == "CPUExecutionProvider"
        assert batch.attributes["ortserve.model.version"] == "1"
        assert batch.attributes["ortserve.batch.traced_requests"] == len(batch.links)
        assert batch.resource["service.name"] == "ortserve-test"
        for trace_id, span_id, _ in batch.links:
            assert roots[span_id].trace_id == trace_id
    for root in roots.values():
        assert root.kind == SERVER and root.parent_span_id == ""
        (trace_id, span_id, attributes), = root.links
        assert batches[span_id].trace_id == trace_id
        assert attributes == {"ortserve.batch.size": batches[span_id].attributes["ortserve.batch.size"]}
        children = sorted((s for s in spans if s.parent_span_id == root.span_id), key=lambda s: s.start_ns)
        assert [c.name for c in children] == ["queue", "assemble batch", "unbatch"]
        assert all(c.trace_id == root.trace_id and root.start_ns <= c.start_ns <= c.end_ns <= root.end_ns
                   for c in children)
        batch = batches[span_id]
        # Assembly ends where the execution starts, unbatching starts where it ends (one clock offset).
        assert abs(children[1].end_ns - batch.start_ns) < 50_000 and abs(children[2].start_ns - batch.end_ns) < 50_000


async def test_a_caller_trace_is_continued_with_its_state(repo, receiver):
    trace, _ = await traced_infer(repo, 1.0, f"00-{PARENT_TRACE}-{PARENT_SPAN}-01")
    assert trace.header == f"00-{PARENT_TRACE}-{trace.span_id:016x}-01"
    spans = receiver.wait_for(lambda s: any(x.name == "infer affine" for x in s))
    root = next(s for s in spans if s.name == "infer affine")
    assert (root.trace_id, root.parent_span_id, root.trace_state) == (PARENT_TRACE, PARENT_SPAN, "vendor=v1")
    assert root.attributes["rpc.system"] == "test" and root.attributes["ortserve.model.name"] == "affine"


async def test_current_carries_the_trace_id_and_fails_the_span_with_the_callers_words(repo, receiver):
    trace = repo.tracing.begin("affine", None, None, {"rpc.system": "test"})
    assert log_trace_id.get() is None
    with pytest.raises(NotFound) as raised, trace.current():
        assert log_trace_id.get() == trace.trace_id_hex  # every log line written meanwhile carries it
        await repo.infer(InferRequest("nope", None, {"x": np.zeros((1, 4), np.float32)}, trace=trace))
    assert log_trace_id.get() is None
    spans = receiver.wait_for(lambda s: any(x.span_id == f"{trace.span_id:016x}" for x in s))
    root = next(s for s in spans if s.span_id == f"{trace.span_id:016x}")
    assert (root.status_code, root.status_message) == (ERROR, raised.value.message)
    assert raised.value.message == "unknown model 'nope'; available: ['affine']"
    with trace.current():  # ended once: a second extent neither re-ends nor re-exports it
        pass
    assert sum(s.span_id == root.span_id for s in receiver.spans) == 1


async def test_a_cache_hit_has_its_own_child_instead_of_the_batch(repo, receiver):
    await traced_infer(repo, 3.0)
    hit, _ = await traced_infer(repo, 3.0)
    spans = receiver.wait_for(lambda s: any(x.parent_span_id == f"{hit.span_id:016x}" for x in s))
    root = next(s for s in spans if s.span_id == f"{hit.span_id:016x}")
    assert root.attributes["ortserve.cache"] == "hit" and root.links == []
    assert [s.name for s in spans if s.parent_span_id == root.span_id] == ["cache hit"]


async def test_an_unsampled_parent_is_not_traced(repo):
    assert repo.tracing.begin("affine", f"00-{PARENT_TRACE}-{PARENT_SPAN}-00", None, {}) is None


async def test_the_rate_and_the_runtime_switch(repo, receiver):
    repo.tracing.update({"trace_rate": "2"})
    assert [repo.tracing.begin("affine", None, None, {}) is not None for _ in range(4)] == [False, True, False, True]
    repo.tracing.update({"trace_level": ["OFF"]})
    assert not repo.tracing.on
