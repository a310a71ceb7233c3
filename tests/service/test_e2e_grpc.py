"""End to end over gRPC: a real `python -m service` process, `tritonclient.grpc` unchanged."""

from __future__ import annotations

import queue
import re
import time
from functools import partial

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from onnx import TensorProto, helper
from tritonclient.utils import InferenceServerException

from scripts.launcher import ServerProcess
from tests.tiny_models import write_model

pytestmark = pytest.mark.slow

ECHO_CONFIG = {
    "name": "echo",
    "max_batch_size": 8,
    "input": [{"name": "text", "datatype": "BYTES", "dims": [2]}],
    "output": [{"name": "same", "datatype": "BYTES", "dims": [2]}],
}


def echo_graph():
    """same = text, for string tensors."""
    text = helper.make_tensor_value_info("text", TensorProto.STRING, ["batch", 2])
    same = helper.make_tensor_value_info("same", TensorProto.STRING, ["batch", 2])
    return helper.make_graph([helper.make_node("Identity", ["text"], ["same"])], "echo", [text], [same])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.tiny_models import make_repository

    repo = make_repository(tmp_path_factory.mktemp("grpc") / "repo")
    write_model(repo, ECHO_CONFIG, echo_graph())
    with ServerProcess(repo, grpc=True, env={"ORTSERVE_ADMIN_TOKEN": "admin-secret"}) as proc:
        yield proc


def client(server) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(server.grpc_url)


def affine_input(x: np.ndarray) -> grpcclient.InferInput:
    inp = grpcclient.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    return inp


def metric(server, name: str, model: str, version: str = "1") -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    match = re.search(rf'^{name}\{{model="{model}",version="{version}"\}} (\S+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_health_and_metadata(server):
    c = client(server)
    assert c.is_server_live() and c.is_server_ready() and c.is_model_ready("affine")
    assert c.is_model_ready("affine", "1") and not c.is_model_ready("nope")
    meta = c.get_model_metadata("affine", as_json=True)
    assert meta["versions"] == ["1", "2"] and meta["platform"] == "onnx_onnxv1"
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": ["-1", "4"]}]
    server_meta = c.get_server_metadata(as_json=True)
    assert server_meta["name"] == "ortserve"
    assert {"model_configuration", "statistics"} <= set(server_meta["extensions"])


def test_infer_binary_named_version_and_output_subset(server):
    c = client(server)
    x = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.float32)
    result = c.infer("affine", [affine_input(x)], outputs=[grpcclient.InferRequestedOutput("z")], request_id="r1")
    np.testing.assert_array_equal(result.as_numpy("z"), x + x)
    assert result.as_numpy("y") is None  # only the requested subset came back
    assert result.get_response().id == "r1" and result.get_response().model_version == "2"
    result = c.infer("affine", [affine_input(x)], model_version="1")
    np.testing.assert_array_equal(result.as_numpy("y"), x * 2 + 1)
    assert result.get_response().model_version == "1"


def test_infer_typed_contents_both_ways(server):
    """tritonclient.grpc always sends raw tensors; its stub sends typed ones as any OIP client may."""
    from tritonclient.grpc import service_pb2

    c = client(server)
    request = service_pb2.ModelInferRequest(model_name="affine")
    tensor = request.inputs.add(name="x", datatype="FP32", shape=[1, 4])
    tensor.contents.fp32_contents.extend([1, 2, 3, 4])
    response = c._client_stub.ModelInfer(request)
    assert not response.raw_output_contents
    assert [o.name for o in response.outputs] == ["y", "z"]
    assert list(response.outputs[0].contents.fp32_contents) == [12, 14, 16, 18]


# BYTES through gRPC, the runtime's str conversion for ORT and back: the whole path.
def test_bytes_tensors_round_trip(server):
    c = client(server)
    text = np.array([[b"hello", b""], ["\u00e9t\u00e9".encode(), "\u00fc".encode()]], dtype=object)
    inp = grpcclient.InferInput("text", [2, 2], "BYTES")
    inp.set_data_from_numpy(text)
    result = c.infer("echo", [inp])
    assert result.as_numpy("same").tolist() == text.tolist()


@pytest.mark.parametrize(("call", "code", "message"), [
    (lambda c: c.infer("affine", [affine_input(np.ones((1, 3), np.float32))]),
     "StatusCode.INVALID_ARGUMENT", r"model 'affine', input 'x': expected shape \[-1, 4\] \(-1 = any\), got \[1, 3\]"),
    (lambda c: c.infer("nope", [affine_input(np.ones((1, 4), np.float32))]),
     "StatusCode.NOT_FOUND", r"unknown model 'nope'; available: \['affine', 'echo', 'sequence'\]"),
    (lambda c: c.infer("affine", [affine_input(np.ones((1, 4), np.float32))], model_version="9"),
     "StatusCode.NOT_FOUND", r"model 'affine' has no version '9'; versions: \[1, 2\]"),
    (lambda c: c.infer("affine", [affine_input(np.ones((1, 4), np.float32))],
                       outputs=[grpcclient.InferRequestedOutput("w")]),
     "StatusCode.INVALID_ARGUMENT", r"model 'affine': unknown output\(s\) \['w'\]; expected some of \['y', 'z'\]"),
])
def test_errors_carry_the_grpc_code_and_the_http_message(server, call, code, message):
    with pytest.raises(InferenceServerException) as info:
        call(client(server))
    assert info.value.status() == code
    assert re.fullmatch(message, info.value.message())


def test_repository_calls_with_the_admin_token_as_metadata(server):
    c = client(server)
    index = c.get_model_repository_index(as_json=True)["models"]
    assert {"name": "echo", "version": "1", "state": "READY"} in [
        {k: m.get(k) for k in ("name", "version", "state")} for m in index
    ]
    with pytest.raises(InferenceServerException) as info:
        c.unload_model("echo")
    assert info.value.status() == "StatusCode.UNAUTHENTICATED"
    admin = {"authorization": "Bearer admin-secret"}
    c.unload_model("echo", headers=admin)
    assert not c.is_model_ready("echo")
    c.load_model("echo", headers=admin)
    assert c.is_model_ready("echo")


def sequence_inputs(length: int, seed: int = 0) -> list[grpcclient.InferInput]:
    frames = np.random.default_rng(seed).normal(size=(1, length, 3)).astype(np.float32)
    a = grpcclient.InferInput("frames", [1, length, 3], "FP32")
    a.set_data_from_numpy(frames)
    b = grpcclient.InferInput("lengths", [1], "INT64")
    b.set_data_from_numpy(np.array([length], np.int64))
    return [a, b]


def _settle(server, count_before: float, expected_more: int = 1) -> float:
    """One more request, so the dispatcher prunes abandoned work; return what was computed since."""
    client(server).infer("sequence", sequence_inputs(10))
    return metric(server, "nv_inference_count", "sequence") - count_before - expected_more


def test_the_client_deadline_is_the_request_deadline(server):
    before = metric(server, "nv_inference_count", "sequence")
    c = client(server)
    sent, outcomes = 48, queue.Queue()
    for i in range(sent):
        c.async_infer("sequence", sequence_inputs(800, i), partial(lambda q, result, error: q.put(error), outcomes),
                      client_timeout=0.15)  # a batch of 16 x 800 frames takes longer than that
    errors = [outcomes.get(timeout=30) for _ in range(sent)]
    expired = [e for e in errors if e is not None]
    assert expired and all(e.status() == "StatusCode.DEADLINE_EXCEEDED" for e in expired)
    time.sleep(0.5)
    computed = _settle(server, before)
    print(f"deadline: {sent} sent, {len(expired)} expired, {computed:.0f} computed")
    assert computed < sent, "expired requests were computed anyway"


def test_a_cancelled_call_drops_its_queued_work(server):
    before = metric(server, "nv_inference_count", "sequence")
    c = client(server)
    sent = 64
    calls = [c.async_infer("sequence", sequence_inputs(800, i), lambda result, error: None) for i in range(sent)]
    deadline = time.monotonic() + 20
    while (queued := metric(server, "ortserve_queue_depth", "sequence")) < 40:  # work is waiting
        assert time.monotonic() < deadline, "the calls never queued"
        time.sleep(0.01)
    for call in calls:
        call.cancel()
    time.sleep(1.0)
    computed = _settle(server, before)
    print(f"cancel: {sent} sent and cancelled, {queued:.0f} were queued, {computed:.0f} computed")
    # What was queued when the calls were cancelled never ran, bar the batches (16 rows each)
    # the dispatcher took before the cancellations reached the server (allow two).
    assert computed <= sent - (queued - 32), (computed, queued)
    assert computed < sent


def test_concurrent_infer_forms_batches(server):
    c = client(server)
    before_items = metric(server, "nv_inference_count", "sequence")
    before_execs = metric(server, "nv_inference_exec_count", "sequence")
    sent, results = 64, queue.Queue()
    for i in range(sent):
        c.async_infer("sequence", sequence_inputs(40, i), partial(lambda q, result, error: q.put((result, error)), results))
    for _ in range(sent):
        result, error = results.get(timeout=60)
        assert error is None, error
        assert result.as_numpy("total").shape == (1, 3)
    items = metric(server, "nv_inference_count", "sequence") - before_items
    execs = metric(server, "nv_inference_exec_count", "sequence") - before_execs
    assert items == sent
    assert execs < items, "no batch larger than 1 formed under 64 concurrent gRPC calls"


def test_config_and_statistics_over_grpc_and_http(server):
    g = client(server)
    config = g.get_model_config("affine", as_json=True)["config"]
    h = httpclient.InferenceServerClient(server.url.removeprefix("http://"))
    assert h.get_model_config("affine") == {
        **{k: v for k, v in config.items() if k not in ("dynamic_batching",)},
        "max_batch_size": 8, "version_policy": {"all": {}},
        "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [4]}],
        "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [4]}, {"name": "z", "data_type": "TYPE_FP32", "dims": [4]}],
        "instance_group": [{"name": "affine_0", "kind": "KIND_CPU", "count": 1}],
        "dynamic_batching": {"max_queue_delay_microseconds": 2000,
                             "default_queue_policy": {"max_queue_size": 64, "default_timeout_microseconds": 30000000}},
    }
    g.infer("affine", [affine_input(np.ones((3, 4), np.float32))], model_version="1")
    over_grpc = g.get_inference_statistics("affine", "1", as_json=True)["model_stats"][0]
    over_http = h.get_inference_statistics("affine", "1")["model_stats"][0]
    assert over_http["inference_count"] >= 1 and int(over_grpc["inference_count"]) == over_http["inference_count"]
    assert over_http["inference_stats"]["success"]["count"] >= 1 and over_http["inference_stats"]["success"]["ns"] > 0
    assert any(b["batch_size"] == 3 for b in over_http["batch_stats"])


def test_sigterm_drains_grpc(tmp_path):
    from tests.tiny_models import make_repository

    proc = ServerProcess(make_repository(tmp_path / "repo"), grpc=True, env={"ORTSERVE_LOG_LEVEL": "info"})
    proc.wait_ready()
    c = grpcclient.InferenceServerClient(proc.grpc_url)
    outcomes = queue.Queue()
    for i in range(16):
        c.async_infer("sequence", sequence_inputs(400, i), lambda result, error: outcomes.put(error))
    time.sleep(0.1)
    assert proc.terminate() in (0, -15)
    errors = [outcomes.get(timeout=30) for _ in range(16)]
    # Accepted calls finish (or get UNAVAILABLE with the reason), none is left hanging or reset.
    assert all(e is None or e.status() == "StatusCode.UNAVAILABLE" for e in errors), errors
    assert "gRPC listening" in proc.log() and "shutdown complete" in proc.log()


def test_a_taken_grpc_port_fails_startup(tmp_path):
    import socket

    from tests.tiny_models import make_repository

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = ServerProcess(make_repository(tmp_path / "repo"), args=["--grpc-port", str(port)])
        assert proc.proc.wait(60) == 3
        proc.terminate()
        assert "gRPC failed to start" in proc.log()


def test_grpc_port_zero_serves_http_only(tmp_path):
    from tests.tiny_models import make_repository

    # The helper passes --grpc-port 0 unless asked for gRPC.
    with ServerProcess(make_repository(tmp_path / "repo"), env={"ORTSERVE_LOG_LEVEL": "info"}) as proc:
        assert httpx.get(f"{proc.url}/v2/health/ready", timeout=10).status_code == 200
        assert "startup complete" in proc.log() and "gRPC listening" not in proc.log()
