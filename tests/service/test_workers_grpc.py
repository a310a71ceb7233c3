"""`--workers N` seen through Triton's gRPC and shared memory: every worker serves, one view, one state.

Real processes (a supervisor with two workers on tiny models); each worker is also
asked alone over its private Unix socket, to check what it did on its own.
"""

from __future__ import annotations

import uuid

import grpc
import httpx
import numpy as np
import pytest
from google.protobuf import json_format

from scripts.launcher import ServerProcess
from service.core.shared_memory import SHM_DIR
from service.grpc._generated import grpc_service_pb2 as pb
from service.grpc._generated import grpc_service_pb2_grpc as pb_grpc
from tests.service.test_workers import ADMIN, ask_worker, count, kill, wait_restarted, workers_of
from tests.tiny_models import make_repository

pytestmark = pytest.mark.slow
ADMIN_METADATA = (("authorization", "Bearer workers-secret"),)


@pytest.fixture
def server(tmp_path):
    env = {"ORTSERVE_ADMIN_TOKEN": "workers-secret", "ORTSERVE_SYSTEM_SHARED_MEMORY": "true"}
    with ServerProcess(make_repository(tmp_path / "repo"), env=env, args=["--workers", "2"], grpc=True) as proc:
        yield proc


def stub(server) -> tuple[grpc.Channel, pb_grpc.GRPCInferenceServiceStub]:
    """A channel of its own (a fresh connection, which the kernel gives to either worker)."""
    channel = grpc.insecure_channel(server.grpc_target, options=[("grpc.use_local_subchannel_pool", 1)])
    return channel, pb_grpc.GRPCInferenceServiceStub(channel)


def affine_request(x: np.ndarray) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="affine", raw_input_contents=[x.astype("<f4").tobytes()])
    request.inputs.add(name="x", datatype="FP32", shape=list(x.shape))
    return request


def on_every_worker(server, path: str) -> list[httpx.Response]:
    return [ask_worker(pid, path) for pid in workers_of(server.pid).values()]


def test_every_worker_serves_grpc_and_statistics_are_one_view(server):
    sent = 40
    x = np.array([[1, 2, 3, 4]], np.float32)
    for _ in range(sent):
        channel, call = stub(server)
        answer = call.ModelInfer(affine_request(x))
        assert np.frombuffer(answer.raw_output_contents[0], "<f4").tolist() == [12.0, 14.0, 16.0, 18.0]  # version 2
        channel.close()
    own = [count(r.text) for r in on_every_worker(server, "/metrics")]
    assert sum(own) == sent and min(own) > 0, own  # both workers answered gRPC, nothing counted twice
    channel, call = stub(server)
    for request in (pb.ModelStatisticsRequest(), pb.ModelStatisticsRequest(name="affine", version="2")):
        by_grpc = json_format.MessageToDict(call.ModelStatistics(request), preserving_proto_field_name=True)
        path = "/v2/models/stats" if not request.name else "/v2/models/affine/versions/2/stats"
        by_http = httpx.get(server.url + path).json()
        affine = [s for s in by_grpc["model_stats"] if s["name"] == "affine" and s["version"] == "2"]
        assert int(affine[0]["inference_stats"]["success"]["count"]) == sent
        assert [(s["name"], s["version"], int(s.get("inference_count", 0))) for s in by_grpc["model_stats"]] == [
            (s["name"], s["version"], s["inference_count"]) for s in by_http["model_stats"]]
    index = call.RepositoryIndex(pb.RepositoryIndexRequest())
    assert [(m.name, m.version, m.state) for m in index.models] == [
        (r["name"], r["version"] or "", r["state"]) for r in httpx.post(server.url + "/v2/repository/index").json()]
    channel.close()


def test_load_and_unload_over_grpc_reach_every_worker(server):
    channel, call = stub(server)
    call.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="affine"), metadata=ADMIN_METADATA)
    assert [r.status_code for r in on_every_worker(server, "/v2/models/affine/ready")] == [503, 503]
    call.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="affine"), metadata=ADMIN_METADATA)
    assert [r.status_code for r in on_every_worker(server, "/v2/models/affine/ready")] == [200, 200]
    with pytest.raises(grpc.RpcError) as info:
        call.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="affine"))
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    channel.close()
    # Unloaded over gRPC is remembered like over HTTP: a restarted worker keeps it unloaded.
    assert httpx.post(f"{server.url}/v2/repository/models/affine/load", headers=ADMIN).status_code == 200


def test_trace_settings_over_grpc_reach_every_worker_and_a_restarted_one(server):
    channel, call = stub(server)
    request = pb.TraceSettingRequest(model_name="affine")
    request.settings["trace_level"].value.extend(["TIMESTAMPS"])
    request.settings["trace_rate"].value.extend(["7"])
    answer = call.TraceSetting(request, metadata=ADMIN_METADATA)
    assert list(answer.settings["trace_rate"].value) == ["7"]
    server_wide = pb.TraceSettingRequest()
    server_wide.settings["trace_count"].value.extend(["40"])
    call.TraceSetting(server_wide, metadata=ADMIN_METADATA)
    channel.close()
    wanted = {"trace_level": ["TIMESTAMPS"], "trace_rate": "7", "trace_count": "40"}

    def settings(response: httpx.Response) -> dict:
        return {k: response.json()[k] for k in wanted}

    assert [settings(r) for r in on_every_worker(server, "/v2/models/affine/trace/setting")] == [wanted, wanted]
    before = workers_of(server.pid)
    kill(before[1])
    restarted = wait_restarted(server, 1, before[1])
    assert settings(ask_worker(restarted, "/v2/models/affine/trace/setting")) == wanted
    assert ask_worker(restarted, "/v2/trace/setting").json()["trace_level"] == ["OFF"]  # the server's own: unchanged


@pytest.fixture
def shm_object():
    path = SHM_DIR / f"ortserve-test-{uuid.uuid4().hex}"
    path.write_bytes(np.array([[1, 2, 3, 4]], np.float32).tobytes() + bytes(240))
    yield path
    path.unlink(missing_ok=True)


def test_a_region_registered_once_serves_every_worker_and_survives_a_restart(server, shm_object):
    channel, call = stub(server)
    call.SystemSharedMemoryRegister(pb.SystemSharedMemoryRegisterRequest(
        name="io", key="/" + shm_object.name, byte_size=256))
    expected = [{"name": "io", "key": "/" + shm_object.name, "offset": 0, "byte_size": 256}]
    assert [r.json() for r in on_every_worker(server, "/v2/systemsharedmemory/status")] == [expected, expected]
    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                        "parameters": {"shared_memory_region": "io", "shared_memory_byte_size": 16}}]}
    for _ in range(20):  # fresh connections: both workers read the region
        answer = httpx.post(f"{server.url}/v2/models/affine/versions/1/infer", json=body)
        assert answer.status_code == 200 and answer.json()["outputs"][0]["data"] == [3.0, 5.0, 7.0, 9.0]
    before = workers_of(server.pid)
    kill(before[1])
    restarted = wait_restarted(server, 1, before[1])
    assert ask_worker(restarted, "/v2/systemsharedmemory/status").json() == expected
    assert httpx.post(f"{server.url}/v2/systemsharedmemory/unregister").status_code == 200
    assert [r.json() for r in on_every_worker(server, "/v2/systemsharedmemory/status")] == [[], []]
    channel.close()
