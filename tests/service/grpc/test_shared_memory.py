"""Triton's shared-memory RPCs (grpc/shared_memory.py) over a real grpc.aio server, with our stubs."""

from __future__ import annotations

import uuid

import grpc
import numpy as np
import pytest

from scripts.launcher import free_port
from service.core.metrics import Metrics
from service.core.repository import ModelRepository
from service.core.settings import Settings
from service.core.shared_memory import SHM_DIR, SharedMemoryRegistry
from service.grpc._generated import grpc_service_pb2 as pb
from service.grpc._generated import grpc_service_pb2_grpc as pb_grpc
from service.grpc.server import GrpcServer

KEY = (("authorization", "Bearer k"),)


@pytest.fixture
def shm_object():
    path = SHM_DIR / f"ortserve-test-{uuid.uuid4().hex}"
    path.write_bytes(bytes(256))
    yield path
    path.unlink(missing_ok=True)


async def serve(tiny_repo, enabled: bool):
    settings = Settings(repository=tiny_repo, grpc_port=free_port(), api_key="k", warmup=False,
                        system_shared_memory=enabled)
    repo = ModelRepository(settings, Metrics())
    await repo.load_all()
    regions = SharedMemoryRegistry(enabled)
    server = GrpcServer(repo, settings, repo.metrics.statistics, regions=regions)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{await server.start()}")
    return server, channel, repo, regions


@pytest.fixture
async def stub(tiny_repo):
    server, channel, repo, regions = await serve(tiny_repo, True)
    yield pb_grpc.GRPCInferenceServiceStub(channel)
    await channel.close()
    await server.stop(0)
    await repo.close()
    regions.close()


async def test_register_status_unregister(stub, shm_object):
    key = "/" + shm_object.name
    await stub.SystemSharedMemoryRegister(pb.SystemSharedMemoryRegisterRequest(
        name="in", key=key, offset=0, byte_size=128), metadata=KEY)
    await stub.SystemSharedMemoryRegister(pb.SystemSharedMemoryRegisterRequest(
        name="out", key=key, offset=128, byte_size=128), metadata=KEY)
    status = await stub.SystemSharedMemoryStatus(pb.SystemSharedMemoryStatusRequest(), metadata=KEY)
    assert {n: (r.key, r.offset, r.byte_size) for n, r in status.regions.items()} == {
        "in": (key, 0, 128), "out": (key, 128, 128)}
    await stub.SystemSharedMemoryUnregister(pb.SystemSharedMemoryUnregisterRequest(name="in"), metadata=KEY)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.SystemSharedMemoryStatus(pb.SystemSharedMemoryStatusRequest(name="in"), metadata=KEY)
    assert info.value.code() is grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "no shared-memory region 'in' is registered"
    await stub.SystemSharedMemoryUnregister(pb.SystemSharedMemoryUnregisterRequest(), metadata=KEY)  # "" = all
    assert not (await stub.SystemSharedMemoryStatus(pb.SystemSharedMemoryStatusRequest(), metadata=KEY)).regions


async def test_the_api_key_and_bad_keys(stub):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.SystemSharedMemoryStatus(pb.SystemSharedMemoryStatusRequest())
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.SystemSharedMemoryRegister(pb.SystemSharedMemoryRegisterRequest(
            name="r", key="/../etc/passwd", byte_size=8), metadata=KEY)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("key '/../etc/passwd' does not name a POSIX shared-memory object")


async def test_off_means_permission_denied(tiny_repo, shm_object):
    server, channel, repo, _ = await serve(tiny_repo, False)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await pb_grpc.GRPCInferenceServiceStub(channel).SystemSharedMemoryRegister(
                pb.SystemSharedMemoryRegisterRequest(name="r", key="/" + shm_object.name, byte_size=8), metadata=KEY)
        assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert info.value.details().startswith("system shared memory is disabled on this server")
    finally:
        await channel.close()
        await server.stop(0)
        await repo.close()


async def test_cuda_shared_memory_is_unimplemented_with_a_sentence(stub):
    calls = [(stub.CudaSharedMemoryStatus, pb.CudaSharedMemoryStatusRequest()),
             (stub.CudaSharedMemoryRegister, pb.CudaSharedMemoryRegisterRequest(name="r", byte_size=8))]
    for call, request in calls:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call(request, metadata=KEY)
        assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED
        assert info.value.details().startswith("CUDA shared memory is not supported by this server")
    # Nothing to unregister: succeeds, as perf_analyzer's clean-up needs.
    await stub.CudaSharedMemoryUnregister(pb.CudaSharedMemoryUnregisterRequest(), metadata=KEY)


async def test_model_infer_through_regions(stub, shm_object):
    x = np.array([[1, 2, 3, 4]], np.float32)
    with open(shm_object, "r+b") as f:
        f.write(x.tobytes())
    await stub.SystemSharedMemoryRegister(pb.SystemSharedMemoryRegisterRequest(
        name="io", key="/" + shm_object.name, byte_size=256), metadata=KEY)
    request = pb.ModelInferRequest(model_name="affine", model_version="1", id="s1")
    tensor = request.inputs.add(name="x", datatype="FP32", shape=[1, 4])
    tensor.parameters["shared_memory_region"].string_param = "io"
    tensor.parameters["shared_memory_byte_size"].int64_param = 16
    out = request.outputs.add(name="y")
    out.parameters["shared_memory_region"].string_param = "io"
    out.parameters["shared_memory_byte_size"].int64_param = 16
    out.parameters["shared_memory_offset"].int64_param = 32
    request.outputs.add(name="z")
    response = await stub.ModelInfer(request, metadata=KEY)
    assert response.id == "s1" and [o.name for o in response.outputs] == ["y", "z"]
    # Raw answers, with an empty entry for the output in shared memory (Triton's alignment).
    assert response.raw_output_contents[0] == b""
    assert np.frombuffer(response.raw_output_contents[1], "<f4").tolist() == [2.0, 4.0, 6.0, 8.0]
    assert np.frombuffer(shm_object.read_bytes()[32:48], np.float32).tolist() == [3.0, 5.0, 7.0, 9.0]
