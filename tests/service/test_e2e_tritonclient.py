"""Triton's own client features against a real server process, unchanged: shared memory, streaming, timeout.

tritonclient's shared-memory utilities over HTTP and gRPC, `start_stream` /
`async_stream_infer` with callbacks, and `infer(timeout=...)` in Triton's unit.
"""

from __future__ import annotations

import queue
import uuid
from functools import partial

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.utils.shared_memory as shm
from tritonclient.utils import InferenceServerException

from scripts.launcher import ServerProcess

pytestmark = pytest.mark.slow
X = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.float32)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.tiny_models import make_repository

    repo = make_repository(tmp_path_factory.mktemp("tools") / "repo")
    with ServerProcess(repo, grpc=True, env={"ORTSERVE_SYSTEM_SHARED_MEMORY": "true"}) as proc:
        yield proc


@pytest.fixture
def regions():
    """(input handle, output handle, their keys): two POSIX regions made by tritonclient's own utility."""
    keys = [f"/ortserve-test-{uuid.uuid4().hex}" for _ in range(2)]
    handles = [shm.create_shared_memory_region(f"h{i}", key, X.nbytes) for i, key in enumerate(keys)]
    shm.set_shared_memory_region(handles[0], [X])
    yield handles[0], handles[1], keys
    for handle in handles:
        shm.destroy_shared_memory_region(handle)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_tritonclient_shared_memory_both_ways(server, regions, protocol):
    module = httpclient if protocol == "http" else grpcclient
    client = module.InferenceServerClient(server.url.removeprefix("http://") if protocol == "http" else server.grpc_url)
    _, handle_out, (key_in, key_out) = regions
    client.unregister_system_shared_memory()
    client.register_system_shared_memory("input", key_in, X.nbytes)
    client.register_system_shared_memory("output", key_out, X.nbytes)
    status = client.get_system_shared_memory_status()
    if protocol == "http":
        assert {r["name"]: r["key"] for r in status} == {"input": key_in, "output": key_out}
    else:
        assert {name: r.key for name, r in status.regions.items()} == {"input": key_in, "output": key_out}
    x = module.InferInput("x", list(X.shape), "FP32")
    x.set_shared_memory("input", X.nbytes)
    y = module.InferRequestedOutput("y")
    y.set_shared_memory("output", X.nbytes)
    result = client.infer("affine", [x], model_version="1", outputs=[y, module.InferRequestedOutput("z")])
    np.testing.assert_array_equal(shm.get_contents_as_numpy(handle_out, np.float32, list(X.shape)), X * 2 + 1)
    np.testing.assert_array_equal(result.as_numpy("z"), X + X)  # y's data went to its region, z's came back
    assert [o["name"] if protocol == "http" else o.name for o in
            (result.get_response()["outputs"] if protocol == "http" else result.get_response().outputs)] == ["y", "z"]
    client.unregister_system_shared_memory()
    with pytest.raises(InferenceServerException, match="shared_memory_region 'input' is not registered"):
        client.infer("affine", [x], model_version="1")


def test_tritonclient_streaming_with_callbacks(server):
    client = grpcclient.InferenceServerClient(server.grpc_url)
    answers: queue.Queue = queue.Queue()

    def callback(answers, result, error):
        answers.put((result, error))

    client.start_stream(callback=partial(callback, answers))
    for i in range(10):
        x = grpcclient.InferInput("x", [1, 4], "FP32")
        x.set_data_from_numpy(np.full((1, 4), i, np.float32))
        client.async_stream_infer("affine", [x], request_id=f"r{i}", model_version="1")
    bad = grpcclient.InferInput("x", [1, 3], "FP32")
    bad.set_data_from_numpy(np.zeros((1, 3), np.float32))
    client.async_stream_infer("affine", [bad], request_id="bad", model_version="1")
    received = [answers.get(timeout=30) for _ in range(11)]
    client.stop_stream()
    results = {r.get_response().id: r for r, e in received if e is None}
    errors = [e for r, e in received if e is not None]
    assert sorted(results) == sorted(f"r{i}" for i in range(10))
    for i in range(10):
        assert results[f"r{i}"].as_numpy("y").tolist() == [[2.0 * i + 1] * 4]
    assert [e.message() for e in errors] == ["model 'affine', input 'x': expected shape [-1, 4] (-1 = any), got [1, 3]"]


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_tritonclient_timeout_is_in_microseconds(server, protocol):
    module = httpclient if protocol == "http" else grpcclient
    client = module.InferenceServerClient(server.url.removeprefix("http://") if protocol == "http" else server.grpc_url)
    x = module.InferInput("x", list(X.shape), "FP32")
    x.set_data_from_numpy(X)
    # 2 s to Triton, and here: plenty. (In seconds it would have been 23 days.)
    assert client.infer("affine", [x], model_version="1", timeout=2_000_000).as_numpy("z").tolist() == (X + X).tolist()
    # 1 microsecond: gone before its batch runs. (In seconds it would have been a whole second.)
    with pytest.raises(InferenceServerException, match=r"model 'affine': request (timed out after 1e-06 s|expired)"):
        client.infer("affine", [x], model_version="1", timeout=1)
