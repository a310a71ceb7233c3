"""The pure-ASGI /infer path (api/infer_endpoint.py) keeps every behaviour of the FastAPI route."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import orjson
import pytest

from service.api import infer_endpoint
from service.api.app import create_app
from service.api.infer_endpoint import infer_target
from service.core.settings import Settings

X = {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}
ORIGIN = "https://example.org"


def metric(client, name: str, **labels: str) -> float:
    pairs = ",".join(f'{k}="{v}"' for k, v in labels.items())
    found = re.search(rf"^{name}{{{re.escape(pairs)}}} (\S+)$", client.get("/metrics").text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_infer_paths_are_matched_as_fastapi_matches_them():
    assert infer_target("POST", "/v2/models/affine/infer") == ("affine", None)
    assert infer_target("POST", "/v2/models/affine/versions/2/infer") == ("affine", "2")
    for other in ("/v2/models/affine", "/v2/models//infer", "/v2/models/a/versions//infer",
                  "/v2/models/a/b/infer", "/v2/models/affine/predict", "/v2/models/stats"):
        assert infer_target("POST", other) is None, other
    assert infer_target("GET", "/v2/models/affine/infer") is None


def test_infer_is_answered_without_fastapi_routing(client, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the FastAPI route ran")

    monkeypatch.setattr("service.api.infer_openapi.answer_infer", fail)
    r = client.post("/v2/models/affine/infer", json={"id": "7", "inputs": [X], "outputs": [{"name": "y"}]})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {"model_name": "affine", "model_version": "2", "id": "7",
                        "outputs": [{"name": "y", "datatype": "FP32", "shape": [1, 4], "data": [12.0, 14.0, 16.0, 18.0]}]}


def test_the_documented_route_gives_the_same_answers(client, monkeypatch):
    body = {"inputs": [X], "outputs": [{"name": "y"}]}
    fast = client.post("/v2/models/affine/versions/1/infer", json=body)
    monkeypatch.setattr("service.api.edge.infer_target", lambda method, path: None)  # all of it through FastAPI
    routed = client.post("/v2/models/affine/versions/1/infer", json=body)
    assert routed.status_code == fast.status_code == 200 and routed.content == fast.content
    missing = client.post("/v2/models/nope/infer", json=body)
    assert missing.status_code == 404 and missing.json() == {"error": "unknown model 'nope'; available: ['affine', 'sequence']"}


def test_binary_tensors_both_ways(client):
    x = np.array([[1, 2, 3, 4]], np.float32)
    header = orjson.dumps({
        "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}],
        "parameters": {"binary_data_output": True},
    })
    r = client.post("/v2/models/affine/infer", content=header + x.tobytes(),
                    headers={"Inference-Header-Content-Length": str(len(header))})
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    length = int(r.headers["inference-header-content-length"])
    meta = orjson.loads(r.content[:length])
    assert [(o["name"], o["parameters"]["binary_data_size"]) for o in meta["outputs"]] == [("y", 16), ("z", 16)]
    np.testing.assert_allclose(np.frombuffer(r.content[length:length + 16], np.float32), [12, 14, 16, 18])
    assert len(r.content) == length + 32


def test_errors_keep_their_status_and_exact_text(client):
    bad_json = client.post("/v2/models/affine/infer", content=b"{")
    assert bad_json.status_code == 400 and bad_json.headers["content-type"] == "application/json"
    assert bad_json.json()["error"].startswith("request body is not valid JSON: ")
    no_version = client.post("/v2/models/affine/versions/9/infer", json={"inputs": [X]})
    assert no_version.status_code == 404
    assert no_version.json() == {"error": "model 'affine' has no version '9'; versions: [1, 2]"}
    no_inputs = client.post("/v2/models/affine/infer", json={"inputs": []})
    assert no_inputs.status_code == 400 and no_inputs.json() == {"error": "'inputs' must be a non-empty list, got []"}


def test_api_key(make_client):
    client = make_client(api_key="k")
    r = client.post("/v2/models/affine/infer", json={"inputs": [X]})
    assert r.status_code == 401
    assert r.json() == {"error": "missing or invalid API key: send 'Authorization: Bearer <key>' or 'X-API-Key'"}
    assert client.post("/v2/models/affine/infer", json={"inputs": [X]}, headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.post("/v2/models/affine/infer", json={"inputs": [X]}, headers={"X-API-Key": "k"}).status_code == 200
    ok = client.post("/v2/models/affine/infer", json={"inputs": [X]}, headers={"Authorization": "Bearer k"})
    assert ok.status_code == 200


def test_body_and_tensor_limits(make_client):
    client = make_client(max_body_bytes=300, max_tensor_elements=3)
    declared = client.post("/v2/models/affine/infer", content=b"x" * 400)
    assert declared.status_code == 413
    assert declared.json() == {"error": "request body of 400 bytes exceeds the limit of 300 bytes"}
    streamed = client.post("/v2/models/affine/infer", content=(b"x" * 100 for _ in range(4)))
    assert streamed.status_code == 413
    assert streamed.json() == {"error": "request body exceeds the limit of 300 bytes (received 400 so far)"}
    before = metric(client, "nv_inference_request_failure", model="affine", version="2", reason="413")
    tensor = client.post("/v2/models/affine/infer", json={"inputs": [X]})
    assert tensor.status_code == 413 and tensor.json() == {"error": "model 'affine', input 'x': 4 elements exceed the limit of 3"}
    assert metric(client, "nv_inference_request_failure", model="affine", version="2", reason="413") == before + 1


def test_admission_limit(client):
    admission = client.app.state.admission
    admission.inflight = admission.limit  # as if the server were full
    try:
        r = client.post("/v2/models/affine/infer", json={"inputs": [X]})
    finally:
        admission.inflight = 0
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json() == {"error": "server is at its limit of 512 concurrent inference requests; retry later"}
    assert metric(client, "ortserve_rejected_requests_total", reason="inflight_limit") == 1
    assert client.post("/v2/models/affine/infer", json={"inputs": [X]}).status_code == 200


def test_request_id_security_headers_and_cors(make_client):
    client = make_client(cors_origins=[ORIGIN])
    r = client.post("/v2/models/affine/infer", json={"inputs": [X]}, headers={"X-Request-ID": "abc-1", "Origin": ORIGIN})
    assert r.headers["x-request-id"] == "abc-1"
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "Inference-Header-Content-Length" in r.headers["access-control-expose-headers"]
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    # Generated ids are unique and as long as before (32 hex digits); errors carry them too.
    ids = {client.post("/v2/models/nope/infer", json={"inputs": [X]}).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_success_metrics_count_each_request(client):
    labels = {"model": "affine", "version": "2"}
    before = metric(client, "nv_inference_request_success", **labels)
    for _ in range(3):
        assert client.post("/v2/models/affine/infer", json={"inputs": [X]}).status_code == 200
    assert metric(client, "nv_inference_request_success", **labels) == before + 3
    assert metric(client, "ortserve_request_duration_seconds_count", **labels) == before + 3


def test_access_log_is_opt_in(make_client, caplog):
    with caplog.at_level(logging.INFO, logger="service.access"):
        make_client().post("/v2/models/affine/infer", json={"inputs": [X]})
        assert [r for r in caplog.records if r.name == "service.access"] == []
        make_client(access_log=True).post("/v2/models/affine/infer", json={"inputs": [X]})
    lines = [r for r in caplog.records if r.name == "service.access"]
    assert [(r.path, r.status) for r in lines] == [("/v2/models/affine/infer", 200)]


def test_a_deadline_that_passes_in_the_queue_answers_504(client):
    batcher = client.app.state.repository.get("affine", "1").batcher
    gate = threading.Event()
    execute = batcher._execute

    def held(inputs):
        gate.wait(10)
        return execute(inputs)

    batcher._execute = held
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(client.post, "/v2/models/affine/versions/1/infer", json={"inputs": [X]})
            timed = {"inputs": [X], "parameters": {"timeout": 50_000}}  # microseconds, as in Triton
            late = pool.submit(client.post, "/v2/models/affine/versions/1/infer", json=timed)
            r = late.result(10)
            gate.set()
            assert first.result(10).status_code == 200
    finally:
        gate.set()
        batcher._execute = execute
    assert r.status_code == 504
    assert r.json()["error"] in ("model 'affine': request timed out after 0.05 s",
                                 "model 'affine': request expired in the queue")


async def test_a_disconnect_cancels_the_queued_work_and_sends_nothing(tiny_repo):
    app = create_app(Settings(repository=tiny_repo))
    handler = infer_endpoint.InferEndpoint(None, app.state.repository, app.state.settings)
    cancelled = asyncio.Event()

    async def never_answers(*args, **kwargs):
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()

    app.state.repository.infer = never_answers
    messages = [{"type": "http.request", "body": orjson.dumps({"inputs": [X]}), "more_body": False},
                {"type": "http.disconnect"}]

    async def receive():
        return messages.pop(0)

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v2/models/affine/infer", "headers": []}
    await asyncio.wait_for(handler(scope, receive, send), 5)
    assert cancelled.is_set() and sent == []


@pytest.mark.parametrize("path", ["/v2/models/affine/infer", "/v2/models/affine/versions/2/infer"])
def test_other_methods_fall_through_to_fastapi(client, path):
    r = client.get(path)
    assert r.status_code == 405 and r.json() == {"error": "Method Not Allowed"}


def test_only_the_requested_outputs_are_fetched_from_the_runtime(client):
    runtime = client.app.state.repository.get("affine", "2").runtime
    fetched = []
    run = runtime.run

    def recording(inputs, outputs=None):
        fetched.append(outputs)
        return run(inputs, outputs)

    runtime.run = recording
    batcher = client.app.state.repository.get("affine", "2").batcher
    batcher._execute = recording
    r = client.post("/v2/models/affine/infer", json={"inputs": [X], "outputs": [{"name": "z"}]})
    assert r.status_code == 200 and [o["name"] for o in r.json()["outputs"]] == ["z"]
    assert client.post("/v2/models/affine/infer", json={"inputs": [X]}).status_code == 200
    assert fetched == [["z"], None]  # the batcher fetches the union of what its requests asked for, sorted
