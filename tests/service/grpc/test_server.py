"""Starting and stopping the gRPC front door (grpc/server.py) inside the test's own event loop."""

from __future__ import annotations

import socket

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.core.admission import Admission
from service.core.metrics import Metrics
from service.core.repository import ModelRepository
from service.core.settings import Settings
from service.grpc._generated import grpc_service_pb2 as pb
from service.grpc._generated import grpc_service_pb2_grpc as pb_grpc
from service.grpc.server import GrpcServer
from tests.tiny_models import AFFINE_CONFIG, affine_graph, write_model


def settings(root, port: int = 0, **extra) -> Settings:
    return Settings(repository=root, host="127.0.0.1", grpc_port=port, warmup=False, **extra)


@pytest.fixture
def root(tmp_path):
    write_model(tmp_path / "repo", AFFINE_CONFIG, affine_graph())
    return tmp_path / "repo"


@pytest.fixture
async def served(root):
    """(server, channel, repository): a started server on a kernel-chosen port, models not loaded yet."""
    config = settings(root)
    metrics = Metrics()
    repo = ModelRepository(config, metrics)
    server = GrpcServer(repo, config, metrics.statistics)
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield server, channel, repo
    await channel.close()
    await server.stop(0)
    await repo.close()


async def test_port_zero_binds_a_real_port_and_reports_it(served):
    server, _, _ = served
    assert server.port > 0
    assert server.server is not None
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", server.port)) == 0


async def test_server_live_and_ready_follow_the_repository(served):
    _, channel, repo = served
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    assert (await stub.ServerLive(pb.ServerLiveRequest(), timeout=5)).live is True
    assert (await stub.ServerReady(pb.ServerReadyRequest(), timeout=5)).ready is False
    await repo.load_all()
    assert (await stub.ServerReady(pb.ServerReadyRequest(), timeout=5)).ready is True


async def test_the_health_service_is_served_beside_inference(served):
    _, channel, repo = served
    health = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service="inference.GRPCInferenceService")
    assert (await health.Check(request, timeout=5)).status == health_pb2.HealthCheckResponse.NOT_SERVING
    await repo.load_all()
    assert (await health.Check(request, timeout=5)).status == health_pb2.HealthCheckResponse.SERVING


async def test_a_taken_port_raises_runtime_error(root):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        config = settings(root, taken)
        repo = ModelRepository(config, Metrics())
        server = GrpcServer(repo, config, Metrics().statistics)
        with pytest.raises(RuntimeError, match=f"^Failed to bind to address 127.0.0.1:{taken}"):
            await server.start()
        assert server.server is None


async def test_a_second_server_cannot_share_the_first_ones_port(served, root):
    first, _, repo = served
    config = settings(root, first.port)
    second = GrpcServer(repo, config, Metrics().statistics)
    with pytest.raises(RuntimeError, match=f"^Failed to bind to address 127.0.0.1:{first.port}"):
        await second.start()


async def test_stop_refuses_new_calls(served):
    server, channel, _ = served
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    assert (await stub.ServerLive(pb.ServerLiveRequest(), timeout=5)).live is True
    await server.stop(0)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ServerLive(pb.ServerLiveRequest(), timeout=2)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    fresh = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await pb_grpc.GRPCInferenceServiceStub(fresh).ServerLive(pb.ServerLiveRequest(), timeout=2)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    await fresh.close()


async def test_stop_before_start_does_nothing(root):
    config = settings(root)
    server = GrpcServer(ModelRepository(config, Metrics()), config, Metrics().statistics)
    await server.stop(0)
    assert (server.server, server.port) == (None, 0)


def test_admission_is_shared_when_given_and_sized_from_settings_otherwise(root):
    shared = Admission(3)
    config = settings(root, max_inflight_requests=7)
    repo = ModelRepository(config, Metrics())
    assert GrpcServer(repo, config, Metrics().statistics, shared).admission is shared
    own = GrpcServer(repo, config, Metrics().statistics).admission
    assert (own.limit, own.inflight) == (7, 0)
