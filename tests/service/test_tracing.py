"""Tracing through every front door, checked on what the exporter sent (an OTLP/HTTP receiver):
HTTP /infer and /predict (the ASGI app) and gRPC ModelInfer (a real grpc.aio server), the
traceresponse each answers with, the access log line, and runtime control over HTTP and gRPC."""

from __future__ import annotations

import logging

import grpc
import numpy as np
import pytest
from fastapi.testclient import TestClient

from scripts.launcher import free_port
from service.api.app import create_app
from service.core.metrics import Metrics
from service.core.repository import ModelRepository
from service.core.settings import Settings
from service.grpc._generated import grpc_service_pb2 as pb
from service.grpc._generated import grpc_service_pb2_grpc as pb_grpc
from service.grpc.server import GrpcServer
from tests.otlp_receiver import Receiver
from tests.service.friendly_models import add_friendly_models
from tests.tiny_models import AFFINE_CONFIG, affine_graph, write_model

TRACE, SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
ADMIN = {"Authorization": "Bearer admin"}
BODY = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}


@pytest.fixture
def receiver(monkeypatch):
    r = Receiver()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", r.endpoint)
    yield r
    r.close()


@pytest.fixture
def repo_dir(tmp_path):
    write_model(tmp_path, AFFINE_CONFIG, affine_graph())
    add_friendly_models(tmp_path)
    config = tmp_path / "img_cls" / "config.json"
    config.write_text(config.read_text().replace('"max_batch_size"', '"response_cache": {"enable": true}, "max_batch_size"'))
    return tmp_path


def client(repo_dir, **settings) -> TestClient:
    settings = {"trace_level": "TIMESTAMPS", "trace_rate": 1, "trace_log_frequency": 1, **settings}
    return TestClient(create_app(Settings(repository=repo_dir, warmup=False, admin_token="admin", **settings)))


def children(spans, root) -> list[str]:
    return sorted(s.name for s in spans if s.parent_span_id == root.span_id)


def test_http_infer_continues_the_callers_trace_and_says_so(repo_dir, receiver, caplog):
    with client(repo_dir, access_log=True) as c, caplog.at_level(logging.INFO, "service.access"):
        answer = c.post("/v2/models/affine/infer", json=BODY,
                        headers={"traceparent": f"00-{TRACE}-{SPAN}-01", "x-request-id": "req-1"})
        assert answer.status_code == 200
        spans = receiver.wait_for(lambda s: any(x.name == "infer affine" for x in s))
    root = next(s for s in spans if s.name == "infer affine")
    assert answer.headers["traceresponse"] == f"00-{TRACE}-{root.span_id}-01"
    assert (root.trace_id, root.parent_span_id) == (TRACE, SPAN)
    assert root.attributes == {"rpc.system": "http", "ortserve.request_id": "req-1", "ortserve.model.name": "affine",
                               "ortserve.model.version": "1", "http.response.status_code": 200}
    assert children(spans, root) == ["assemble batch", "encode", "queue", "unbatch"]
    (batch,) = [s for s in spans if s.name == "execute affine"]
    assert root.links[0][:2] == (batch.trace_id, batch.span_id)
    line = next(r for r in caplog.records if r.name == "service.access")
    assert line.trace_id == TRACE and line.status == 200


def test_http_errors_are_traced_with_the_callers_words(repo_dir, receiver):
    with client(repo_dir) as c:
        bad = c.post("/v2/models/affine/infer", json={"inputs": [{**BODY["inputs"][0], "name": "w"}]})
        assert bad.status_code == 400 and "traceresponse" in bad.headers
        spans = receiver.wait_for(lambda s: any(x.name == "infer affine" for x in s))
    root = next(s for s in spans if s.name == "infer affine")
    assert root.status_code == 2 and root.status_message == bad.json()["error"]  # STATUS_CODE_ERROR
    assert root.attributes["http.response.status_code"] == 400 and children(spans, root) == []


def test_predict_is_traced_and_its_second_answer_comes_from_the_cache(repo_dir, receiver):
    image = {"images": [[[[0.5] * 8] * 8]]}
    with client(repo_dir) as c:
        first = c.post("/v2/models/img_cls/predict", json=image)
        second = c.post("/v2/models/img_cls/predict", json=image)
        assert first.status_code == second.status_code == 200 and first.json() == second.json()
        spans = receiver.wait_for(lambda s: sum(x.name == "infer img_cls" for x in s) == 2)
        stats = c.get("/v2/models/img_cls/stats").json()["model_stats"][0]["inference_stats"]
    roots = [s for s in spans if s.name == "infer img_cls"]
    hit = next(r for r in roots if r.attributes.get("ortserve.cache") == "hit")
    assert second.headers["traceresponse"] == f"00-{hit.trace_id}-{hit.span_id}-01"
    assert children(spans, hit) == ["cache hit", "encode"] and hit.attributes["url.path"].endswith("/predict")
    assert stats["cache_hit"]["count"] == 1 and stats["cache_miss"]["count"] == 1


def test_runtime_control_over_http(repo_dir, receiver):
    with client(repo_dir, trace_level="OFF") as c:
        assert c.get("/v2/trace/setting").json()["trace_level"] == ["OFF"]
        assert "traceresponse" not in c.post("/v2/models/affine/infer", json=BODY).headers
        assert c.post("/v2/trace/setting", json={"trace_rate": "1"}).status_code == 401  # needs the admin token
        changed = c.post("/v2/models/affine/trace/setting", json={"trace_level": ["TIMESTAMPS"], "trace_rate": "1"},
                         headers=ADMIN)
        assert changed.json() == {"trace_level": ["TIMESTAMPS"], "trace_rate": "1", "trace_count": "-1",
                                  "log_frequency": "1", "trace_mode": "opentelemetry"}
        assert c.get("/v2/trace/setting").json()["trace_level"] == ["OFF"]  # the server's stay
        assert "traceresponse" in c.post("/v2/models/affine/infer", json=BODY).headers
        assert "traceresponse" not in c.post("/v2/models/img_cls/predict", json={"images": [[[[0.5] * 8] * 8]]}).headers
        cleared = c.post("/v2/models/affine/trace/setting", json={"trace_level": None}, headers=ADMIN)
        assert cleared.json()["trace_level"] == ["OFF"]
        bad = c.post("/v2/trace/setting", json={"trace_rate": "0"}, headers=ADMIN)
        assert bad.status_code == 400 and bad.json()["error"].startswith("trace setting 'trace_rate' must be")
        assert c.post("/v2/trace/setting", json=["x"], headers=ADMIN).json() == {
            "error": "request body must be a JSON object of trace settings, got list"}
        assert c.get("/v2/models/nope/trace/setting").status_code == 404


async def test_grpc_infer_and_trace_setting(repo_dir, receiver):
    settings = Settings(repository=repo_dir, warmup=False, grpc_port=free_port(), admin_token="admin")
    repo = ModelRepository(settings, Metrics())
    await repo.load_all()
    server = GrpcServer(repo, settings, repo.metrics.statistics)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{await server.start()}")
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    try:
        request = pb.TraceSettingRequest(model_name="affine")
        request.settings["trace_level"].value.append("TIMESTAMPS")
        request.settings["trace_rate"].value.append("1")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.TraceSetting(request)
        assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
        answer = await stub.TraceSetting(request, metadata=(("authorization", "Bearer admin"),))
        assert list(answer.settings["trace_level"].value) == ["TIMESTAMPS"]
        assert list((await stub.TraceSetting(pb.TraceSettingRequest())).settings["trace_level"].value) == ["OFF"]
        infer = pb.ModelInferRequest(model_name="affine", raw_input_contents=[np.ones((1, 4), "<f4").tobytes()])
        infer.inputs.add(name="x", datatype="FP32", shape=[1, 4])
        call = stub.ModelInfer(infer, metadata=(("traceparent", f"00-{TRACE}-{SPAN}-01"),))
        await call
        traceresponse = dict(await call.initial_metadata())["traceresponse"]
        spans = receiver.wait_for(lambda s: any(x.name == "infer affine" for x in s))
        root = next(s for s in spans if s.name == "infer affine")
        assert traceresponse == f"00-{TRACE}-{root.span_id}-01" and root.parent_span_id == SPAN
        assert root.attributes["rpc.system"] == "grpc"
        assert children(spans, root) == ["assemble batch", "encode", "queue", "unbatch"]
    finally:
        await channel.close()
        await server.stop(0)
        await repo.close()


@pytest.mark.slow
def test_a_real_server_process_with_tritons_clients(repo_dir, receiver):
    """tritonclient's own trace calls (HTTP and gRPC) change a running server, whose exporter then
    sends spans over real HTTP to the receiver."""
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient

    from scripts.launcher import ServerProcess

    env = {"ORTSERVE_ADMIN_TOKEN": "admin", "ORTSERVE_TRACE_LOG_FREQUENCY": "1",
           "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint, "OTEL_SERVICE_NAME": "ortserve-process"}
    with ServerProcess(repo_dir, env=env, grpc=True) as server:
        http = httpclient.InferenceServerClient(server.url.removeprefix("http://"))
        assert http.get_trace_settings()["trace_level"] == ["OFF"]
        updated = http.update_trace_settings("affine", {"trace_level": ["TIMESTAMPS"], "trace_rate": "1"},
                                             headers=ADMIN)
        assert updated["trace_level"] == ["TIMESTAMPS"] and updated["trace_rate"] == "1"
        tensor = httpclient.InferInput("x", [1, 4], "FP32")
        tensor.set_data_from_numpy(np.ones((1, 4), np.float32))
        http.infer("affine", [tensor], headers={"traceparent": f"00-{TRACE}-{SPAN}-01"})
        spans = receiver.wait_for(lambda s: any(x.name == "infer affine" for x in s))
        root = next(s for s in spans if s.name == "infer affine")
        assert (root.trace_id, root.parent_span_id) == (TRACE, SPAN)
        assert root.resource["service.name"] == "ortserve-process"
        grpc_client = grpcclient.InferenceServerClient(server.grpc_target)
        settings = grpc_client.get_trace_settings("affine", as_json=True)["settings"]
        assert settings["trace_level"]["value"] == ["TIMESTAMPS"]
        grpc_client.update_trace_settings("affine", {"trace_level": None, "trace_rate": None},
                                          headers={"authorization": "Bearer admin"})
        assert http.get_trace_settings("affine")["trace_level"] == ["OFF"]
