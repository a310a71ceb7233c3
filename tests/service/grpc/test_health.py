"""grpc.health.v1 Check (grpc/health.py) over a real grpc.aio server: it follows the repository's readiness."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.core.metrics import Metrics
from service.core.repository import ModelRepository
from service.core.settings import Settings
from service.grpc.health import SERVICES, HealthServicer
from tests.tiny_models import AFFINE_CONFIG, affine_graph, write_model

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def root(tmp_path):
    write_model(tmp_path / "repo", AFFINE_CONFIG, affine_graph())
    return tmp_path / "repo"


@pytest.fixture
async def health_of(root):
    """Serve HealthServicer over a repository built with the given settings; yield (stub, repo)."""
    opened = []

    async def serve(**extra):
        repo = ModelRepository(Settings(repository=root, warmup=False, **extra), Metrics())
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(repo), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        opened.append((server, channel, repo))
        return health_pb2_grpc.HealthStub(channel), repo

    yield serve
    for server, channel, repo in opened:
        await channel.close()
        await server.stop(0)
        await repo.close()


async def check(stub, service: str = "") -> int:
    return (await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)).status


def test_the_known_services_are_the_server_and_the_inference_service():
    assert SERVICES == ("", "inference.GRPCInferenceService")


@pytest.mark.parametrize("service", ["", "inference.GRPCInferenceService"])
async def test_not_serving_until_the_models_are_loaded_then_serving(health_of, service):
    stub, repo = await health_of()
    assert await check(stub, service) == NOT_SERVING
    await repo.load_all()
    assert await check(stub, service) == SERVING


async def test_back_to_not_serving_when_the_last_model_is_unloaded(health_of):
    stub, repo = await health_of()
    await repo.load_all()
    await repo.unload("affine")
    assert await check(stub) == NOT_SERVING
    await repo.load("affine")
    assert await check(stub) == SERVING


async def test_a_broken_model_fails_health_only_under_strict_readiness(health_of, root):
    write_model(root, {**AFFINE_CONFIG, "name": "broken"}, affine_graph())
    (root / "broken" / "1" / "model.onnx").write_bytes(b"garbage")
    lenient, repo = await health_of()
    await repo.load_all()
    assert await check(lenient) == SERVING
    strict, repo = await health_of(strict_readiness=True)
    await repo.load_all()
    assert await check(strict) == NOT_SERVING


async def test_an_unknown_service_is_not_found_naming_the_known_ones(health_of):
    stub, repo = await health_of()
    await repo.load_all()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await check(stub, "inference.Other")
    assert info.value.code() is grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "unknown service 'inference.Other'; known: ['', 'inference.GRPCInferenceService']"
