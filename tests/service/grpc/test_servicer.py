"""The gRPC front door in process: our own stubs over a real grpc.aio server on a loopback port."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from scripts.launcher import free_port
from service.core.metrics import Metrics
from service.core.repository import ModelRepository
from service.core.settings import Settings
from service.grpc._generated import grpc_service_pb2 as pb
from service.grpc._generated import grpc_service_pb2_grpc as pb_grpc
from service.grpc.server import GrpcServer


@pytest.fixture
async def front_door(tiny_repo):
    """(stub, health stub, repository) over a server with an API key and an admin token."""
    settings = Settings(
        repository=tiny_repo, grpc_port=free_port(), api_key="k", admin_token="admin", warmup=False,
        max_body_bytes=4096,
    )
    metrics = Metrics()
    repo = ModelRepository(settings, metrics)
    await repo.load_all()
    server = GrpcServer(repo, settings, metrics.statistics)
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield pb_grpc.GRPCInferenceServiceStub(channel), health_pb2_grpc.HealthStub(channel), repo
    await channel.close()
    await server.stop(0)
    await repo.close()


KEY = (("authorization", "Bearer k"),)


def affine_request(rows: int = 1) -> pb.ModelInferRequest:
    x = np.arange(4 * rows, dtype="<f4").reshape(rows, 4)
    request = pb.ModelInferRequest(model_name="affine", raw_input_contents=[x.tobytes()])
    request.inputs.add(name="x", datatype="FP32", shape=[rows, 4])
    return request


async def test_infer_needs_the_api_key_with_the_http_words(front_door):
    stub, _, _ = front_door
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ModelInfer(affine_request())
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert info.value.details() == "missing or invalid API key: send 'Authorization: Bearer <key>' or 'X-API-Key'"
    response = await stub.ModelInfer(affine_request(), metadata=(("x-api-key", "k"),))
    assert np.frombuffer(response.raw_output_contents[0], "<f4").tolist() == [10.0, 12.0, 14.0, 16.0]


async def test_repository_admin_calls_need_the_admin_token(front_door):
    stub, _, _ = front_door
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="affine"), metadata=KEY)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert info.value.details() == "missing or invalid admin token: send 'Authorization: Bearer <token>'"
    admin = (("authorization", "Bearer admin"),)
    await stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="affine"), metadata=admin)
    index = await stub.RepositoryIndex(pb.RepositoryIndexRequest(), metadata=KEY)
    assert ("affine", "UNLOADED") in {(m.name, m.state) for m in index.models}
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ModelInfer(affine_request(), metadata=KEY)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    assert info.value.details() == "model 'affine' is UNLOADED: unloaded by an admin"
    assert ("retry-after", "5") in tuple(info.value.trailing_metadata())
    await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="affine"), metadata=admin)
    assert (await stub.ModelReady(pb.ModelReadyRequest(name="affine"))).ready


async def test_admin_calls_are_forbidden_without_a_configured_token(tiny_repo):
    settings = Settings(repository=tiny_repo, grpc_port=free_port(), warmup=False)
    metrics = Metrics()
    repo = ModelRepository(settings, metrics)
    await repo.load_all()
    server = GrpcServer(repo, settings, metrics.statistics)
    port = await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await pb_grpc.GRPCInferenceServiceStub(channel).RepositoryModelLoad(
                pb.RepositoryModelLoadRequest(model_name="affine")
            )
    await server.stop(0)
    await repo.close()
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert info.value.details() == "admin endpoints are disabled: set ORTSERVE_ADMIN_TOKEN to enable them"


async def test_messages_over_the_body_limit_are_resource_exhausted(front_door):
    stub, _, _ = front_door
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ModelInfer(affine_request(rows=300), metadata=KEY)  # 4.8 kB > 4096
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_health_service_follows_readiness(front_door):
    _, health, repo = front_door
    for service in ("", "inference.GRPCInferenceService"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await health.Check(health_pb2.HealthCheckRequest(service="nope"))
    assert info.value.code() is grpc.StatusCode.NOT_FOUND
    for name in ("affine", "sequence"):
        await repo.unload(name)
    answer = await health.Check(health_pb2.HealthCheckRequest())
    assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_metadata_and_config_match_the_http_documents(front_door):
    stub, _, _ = front_door
    meta = await stub.ModelMetadata(pb.ModelMetadataRequest(name="sequence"))
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [
        ("frames", "FP32", [-1, -1, 3]), ("lengths", "INT64", [-1, 1]),  # one number per item, as Triton says it
    ]
    sequence = (await stub.ModelConfig(pb.ModelConfigRequest(name="sequence"))).config
    assert [(list(i.dims), list(i.reshape.shape), i.HasField("reshape")) for i in sequence.input] == [
        ([-1, 3], [], False), ([1], [], True)]
    config = (await stub.ModelConfig(pb.ModelConfigRequest(name="affine", version="1"))).config
    assert config.name == "affine" and config.max_batch_size == 8 and config.backend == "onnxruntime"
    assert [(i.name, pb.DataType.Name(i.data_type), list(i.dims)) for i in config.input] == [("x", "TYPE_FP32", [4])]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ModelConfig(pb.ModelConfigRequest(name="affine", version="7"))
    assert info.value.code() is grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "model 'affine' has no version '7'; versions: [1, 2]"


async def test_a_passed_deadline_is_deadline_exceeded(front_door):
    stub, _, _ = front_door
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ModelInfer(affine_request(), metadata=KEY, timeout=1e-6)
    assert info.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED


async def test_the_inflight_cap_is_shared_with_http(tiny_repo):
    from service.core.admission import Admission

    settings = Settings(repository=tiny_repo, grpc_port=free_port(), warmup=False)
    metrics = Metrics()
    repo = ModelRepository(settings, metrics)
    await repo.load_all()
    admission = Admission(1)
    server = GrpcServer(repo, settings, metrics.statistics, admission)
    port = await server.start()
    assert admission.try_enter()  # an HTTP request holds the only slot
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ModelInfer(affine_request())
        admission.leave()
        response = await stub.ModelInfer(affine_request())
    await server.stop(0)
    await repo.close()
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    assert info.value.details() == "server is at its limit of 1 concurrent inference requests; retry later"
    assert ("retry-after", "1") in tuple(info.value.trailing_metadata())
    assert len(response.raw_output_contents) == 2 and admission.inflight == 0
