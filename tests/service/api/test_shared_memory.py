"""Triton's shared-memory extensions over HTTP (api/shared_memory.py), in process."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from service.core.shared_memory import SHM_DIR

KEY = {"X-API-Key": "k"}


@pytest.fixture
def shm_object():
    path = SHM_DIR / f"ortserve-test-{uuid.uuid4().hex}"
    path.write_bytes(bytes(256))
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def client(make_client):
    return make_client(system_shared_memory=True, api_key="k")


def register(client, name, path, byte_size=256, offset=0, headers=KEY):
    body = {"key": "/" + path.name, "offset": offset, "byte_size": byte_size}
    return client.post(f"/v2/systemsharedmemory/region/{name}/register", json=body, headers=headers)


def test_off_by_default_and_not_listed(make_client, shm_object):
    off = make_client()
    assert "system_shared_memory" not in off.get("/v2").json()["extensions"]
    answer = register(off, "r", shm_object, headers={})
    assert answer.status_code == 403
    assert answer.json() == {"error": "system shared memory is disabled on this server: start it with "
                                      "ORTSERVE_SYSTEM_SHARED_MEMORY=true"}


def test_register_status_and_unregister(client, shm_object):
    assert "system_shared_memory" in client.get("/v2").json()["extensions"]
    assert register(client, "in", shm_object, 128).json() == {}
    assert register(client, "out", shm_object, 128, offset=128).status_code == 200
    key = "/" + shm_object.name
    assert client.get("/v2/systemsharedmemory/status", headers=KEY).json() == [
        {"name": "in", "key": key, "offset": 0, "byte_size": 128},
        {"name": "out", "key": key, "offset": 128, "byte_size": 128},
    ]
    assert client.get("/v2/systemsharedmemory/region/out/status", headers=KEY).json() == [
        {"name": "out", "key": key, "offset": 128, "byte_size": 128}]
    assert client.post("/v2/systemsharedmemory/region/in/unregister", headers=KEY).status_code == 200
    missing = client.get("/v2/systemsharedmemory/region/in/status", headers=KEY)
    assert missing.status_code == 404 and missing.json() == {"error": "no shared-memory region 'in' is registered"}
    assert client.post("/v2/systemsharedmemory/unregister", headers=KEY).status_code == 200
    assert client.get("/v2/systemsharedmemory/status", headers=KEY).json() == []


def test_every_route_obeys_the_api_key(client, shm_object):
    assert register(client, "r", shm_object, headers={}).status_code == 401
    for method, path in [("GET", "/v2/systemsharedmemory/status"), ("GET", "/v2/systemsharedmemory/region/r/status"),
                         ("POST", "/v2/systemsharedmemory/region/r/unregister"),
                         ("POST", "/v2/systemsharedmemory/unregister")]:
        assert client.request(method, path).status_code == 401, path


def test_a_key_outside_dev_shm_is_a_400_naming_it(client):
    answer = client.post("/v2/systemsharedmemory/region/r/register", headers=KEY,
                         json={"key": "/../../etc/passwd", "offset": 0, "byte_size": 8})
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("key '/../../etc/passwd' does not name a POSIX shared-memory object")
    bad = client.post("/v2/systemsharedmemory/region/r/register", headers=KEY, content=b"[1]")
    assert bad.status_code == 400 and bad.json() == {"error": "request body must be a JSON object, got list"}


def test_cuda_shared_memory_is_not_supported(client):
    for method, path in [("GET", "/v2/cudasharedmemory/status"), ("GET", "/v2/cudasharedmemory/region/r/status"),
                         ("POST", "/v2/cudasharedmemory/region/r/register")]:
        answer = client.request(method, path, headers=KEY)
        assert answer.status_code == 400, path
        assert answer.json()["error"].startswith("CUDA shared memory is not supported by this server; use system")
    # Nothing can be registered, so there is nothing to unregister (perf_analyzer unregisters both kinds).
    for path in ("/v2/cudasharedmemory/region/r/unregister", "/v2/cudasharedmemory/unregister"):
        assert client.post(path, headers=KEY).json() == {}
        assert client.post(path).status_code == 401


def test_infer_reads_and_writes_regions(client, shm_object):
    x = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.float32)
    with open(shm_object, "r+b") as f:
        f.write(x.tobytes())
    register(client, "io", shm_object)
    body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32",
                        "parameters": {"shared_memory_region": "io", "shared_memory_byte_size": 32}}],
            "outputs": [{"name": "y", "parameters": {"shared_memory_region": "io", "shared_memory_byte_size": 32,
                                                     "shared_memory_offset": 64}},
                        {"name": "z"}]}
    answer = client.post("/v2/models/affine/versions/1/infer", json=body, headers=KEY)
    assert answer.status_code == 200, answer.text
    y, z = answer.json()["outputs"]
    assert y == {"name": "y", "datatype": "FP32", "shape": [2, 4]}  # its data is in the region
    assert z["data"] == (x + x).ravel().tolist()
    np.testing.assert_array_equal(np.frombuffer(shm_object.read_bytes()[64:96], np.float32).reshape(2, 4), x * 2 + 1)


def test_an_output_too_big_for_its_region_is_a_400(client, shm_object):
    register(client, "io", shm_object)
    body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [0] * 8}],
            "outputs": [{"name": "y", "parameters": {"shared_memory_region": "io", "shared_memory_byte_size": 16}}]}
    answer = client.post("/v2/models/affine/versions/1/infer", json=body, headers=KEY)
    assert answer.status_code == 400
    assert answer.json() == {"error": "output 'y': the output is 32 bytes, more than shared_memory_byte_size 16 in "
                                      "region 'io'"}


def test_shutdown_unmaps_every_region(make_client, shm_object):
    client = make_client(system_shared_memory=True)
    register(client, "r", shm_object, headers={})
    registry = client.app.state.shared_memory
    client.__exit__(None, None, None)
    assert registry.regions == {}
