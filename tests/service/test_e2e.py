"""End to end: a real uvicorn process, tritonclient.http, concurrent requests, batching in /metrics."""

from __future__ import annotations

import asyncio
import re

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from scripts.launcher import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tiny_repo):
    with ServerProcess(tiny_repo) as proc:
        yield proc


def client(server, concurrency: int = 1) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(url=server.url.removeprefix("http://"), concurrency=concurrency)


def test_tritonclient_metadata_and_health(server):
    c = client(server)
    assert c.is_server_live() and c.is_server_ready() and c.is_model_ready("affine")
    meta = c.get_model_metadata("affine")
    assert meta["inputs"][0] == {"name": "x", "datatype": "FP32", "shape": [-1, 4]}
    assert c.get_server_metadata()["name"] == "ortserve"


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_infer_binary_and_json(server, binary):
    c = client(server)
    x = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.float32)
    inp = httpclient.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    outputs = [httpclient.InferRequestedOutput("y", binary_data=binary)]
    result = c.infer("affine", [inp], outputs=outputs)
    np.testing.assert_allclose(result.as_numpy("y"), x * 2 + 10)
    assert result.as_numpy("z") is None  # only the requested subset came back


def test_tritonclient_named_version(server):
    c = client(server)
    x = np.ones((1, 4), np.float32)
    inp = httpclient.InferInput("x", [1, 4], "FP32")
    inp.set_data_from_numpy(x)
    result = c.infer("affine", [inp], model_version="1")
    np.testing.assert_allclose(result.as_numpy("y"), x * 2 + 1)
    assert result.get_response()["model_version"] == "1"


def test_tritonclient_sees_4xx_errors(server):
    c = client(server)
    inp = httpclient.InferInput("x", [1, 3], "FP32")
    inp.set_data_from_numpy(np.ones((1, 3), np.float32))
    with pytest.raises(InferenceServerException, match=r"expected shape \[-1, 4\]"):
        c.infer("affine", [inp])


def test_concurrent_requests_match_direct_ort_and_form_batches(server, tiny_repo):
    session = ort.InferenceSession(str(tiny_repo / "sequence" / "1" / "model.onnx"))
    rng = np.random.default_rng(0)  # fixture data: random sequences of random lengths
    requests = []
    for _ in range(120):
        length = int(rng.integers(10, 40))
        requests.append((rng.normal(size=(1, length, 3)).astype(np.float32), np.array([length], np.int64)))

    async def fire() -> list[dict]:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as http:
            gate = asyncio.Semaphore(16)

            async def one(frames, lengths):
                async with gate:
                    body = {"inputs": [
                        {"name": "frames", "shape": list(frames.shape), "datatype": "FP32", "data": frames.ravel().tolist()},
                        {"name": "lengths", "shape": [1], "datatype": "INT64", "data": lengths.tolist()},
                    ]}
                    r = await http.post("/v2/models/sequence/infer", json=body)
                    assert r.status_code == 200, r.text
                    return {o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in r.json()["outputs"]}

            return await asyncio.gather(*(one(f, n) for f, n in requests))

    results = asyncio.run(fire())
    for (frames, lengths), result in zip(requests, results):
        total, doubled, twice, energy = session.run(None, {"frames": frames, "lengths": lengths})
        np.testing.assert_allclose(result["total"], total, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(result["doubled"], doubled)  # cut back to its own length
        np.testing.assert_array_equal(result["twice_lengths"], twice)
        # Padded batch GEMMs may sum in another order: float32 rounding only.
        np.testing.assert_allclose(result["energy"], energy, rtol=1e-4, atol=1e-4)
    metrics = httpx.get(f"{server.url}/metrics").text
    count = float(re.search(r'nv_inference_count\{model="sequence",version="1"\} ([\d.e+]+)', metrics).group(1))
    execs = float(re.search(r'nv_inference_exec_count\{model="sequence",version="1"\} ([\d.e+]+)', metrics).group(1))
    assert count == 120
    assert execs < count, "no batch larger than 1 formed under concurrency 16"


def test_sigterm_exits_cleanly(tiny_repo):
    proc = ServerProcess(tiny_repo, env={"ORTSERVE_LOG_LEVEL": "info"})
    proc.wait_ready()
    # uvicorn drains, runs our lifespan shutdown, then re-raises SIGTERM so the
    # exit status tells a supervisor the truth: -15 after a clean, complete drain.
    assert proc.terminate() in (0, -15)
    assert "shutdown complete" in proc.log()
