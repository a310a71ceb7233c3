"""ModelStreamInfer (grpc/streaming.py) over a real grpc.aio server, with our stubs."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

from scripts.launcher import free_port
from service.core.metrics import Metrics
from service.core.repository import ModelRepository
from service.core.settings import Settings
from service.grpc._generated import grpc_service_pb2 as pb
from service.grpc._generated import grpc_service_pb2_grpc as pb_grpc
from service.grpc.server import GrpcServer

KEY = (("authorization", "Bearer k"),)


@pytest.fixture
async def stub(tiny_repo):
    settings = Settings(repository=tiny_repo, grpc_port=free_port(), api_key="k", warmup=False)
    repo = ModelRepository(settings, Metrics())
    await repo.load_all()
    server = GrpcServer(repo, settings, repo.metrics.statistics)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{await server.start()}")
    yield pb_grpc.GRPCInferenceServiceStub(channel)
    await channel.close()
    await server.stop(0)
    await repo.close()


def affine(request_id: str, value: float, columns: int = 4) -> pb.ModelInferRequest:
    x = np.full((1, columns), value, dtype="<f4")
    request = pb.ModelInferRequest(model_name="affine", model_version="1", id=request_id,
                                   raw_input_contents=[x.tobytes()])
    request.inputs.add(name="x", datatype="FP32", shape=[1, columns])
    return request


async def test_one_answer_per_request_each_with_its_id(stub):
    requests = [affine(f"r{i}", float(i)) for i in range(20)]
    answers = [a async for a in stub.ModelStreamInfer(iter(requests), metadata=KEY)]
    assert len(answers) == 20 and all(a.error_message == "" for a in answers)
    by_id = {a.infer_response.id: a.infer_response for a in answers}
    for i in range(20):
        y = np.frombuffer(by_id[f"r{i}"].raw_output_contents[0], "<f4")
        assert y.tolist() == [2.0 * i + 1] * 4


async def test_an_error_travels_in_the_stream_and_the_stream_goes_on(stub):
    requests = [affine("ok1", 1.0), affine("bad", 1.0, columns=5), affine("ok2", 2.0)]
    answers = {a.infer_response.id: a async for a in stub.ModelStreamInfer(iter(requests), metadata=KEY)}
    assert set(answers) == {"ok1", "bad", "ok2"}
    assert answers["bad"].error_message == "model 'affine', input 'x': expected shape [-1, 4] (-1 = any), got [1, 5]"
    assert answers["bad"].infer_response.model_name == "affine"
    assert answers["ok2"].error_message == "" and len(answers["ok2"].infer_response.raw_output_contents) == 2


async def test_answers_come_as_soon_as_they_are_ready(stub):
    """A client that waits for each answer before it sends the next (tritonclient's callback style)."""
    queue: asyncio.Queue[pb.ModelInferRequest | None] = asyncio.Queue()

    async def requests():
        while (item := await queue.get()) is not None:
            yield item

    call = stub.ModelStreamInfer(requests(), metadata=KEY)
    for i in range(3):
        await queue.put(affine(f"r{i}", float(i)))
        answer = await call.read()
        assert answer.infer_response.id == f"r{i}"
    await queue.put(None)
    assert await call.read() is grpc.aio.EOF
    assert await call.code() is grpc.StatusCode.OK


async def test_the_api_key_is_checked_when_the_stream_opens(stub):
    call = stub.ModelStreamInfer(iter([affine("r", 1.0)]))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in call:
            pass
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_a_timeout_parameter_in_microseconds_expires_a_request_in_the_stream(stub):
    late = affine("late", 1.0)
    late.parameters["timeout"].int64_param = 1  # one microsecond: passed before the batch runs
    answers = {a.infer_response.id: a async for a in stub.ModelStreamInfer(iter([late]), metadata=KEY)}
    assert answers["late"].error_message in ("model 'affine': request timed out after 1e-06 s",
                                             "model 'affine': request expired in the queue")
