from __future__ import annotations


def test_server_metadata(client):
    body = client.get("/v2").json()
    assert body["name"] == "ortserve"
    assert "binary_tensor_data" in body["extensions"] and "model_repository" in body["extensions"]


def test_live_and_ready(client):
    assert client.get("/v2/health/live").json() == {"live": True}
    r = client.get("/v2/health/ready")
    assert r.status_code == 200
    assert r.json()["models"]["affine/2"]["state"] == "READY"


def test_not_ready_when_no_model_loads(make_client, tiny_repo):
    for model in ("affine", "sequence"):
        (tiny_repo / model / "config.json").write_text("{")
    r = make_client().get("/v2/health/ready")
    assert r.status_code == 503
    assert r.json()["ready"] is False
    assert "unreadable config.json" in r.json()["models"]["affine"]["reason"]


def test_model_metadata_reports_shapes_and_provider(client):
    body = client.get("/v2/models/affine").json()
    assert body["name"] == "affine" and body["versions"] == ["1", "2"]
    assert body["platform"] == "onnx_onnxv1"
    assert body["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert body["provider"] == "CPUExecutionProvider"
    assert client.get("/v2/models/affine/versions/1").json()["version"] == "1"


def test_metadata_of_broken_version_gives_reason(make_client, tiny_repo):
    (tiny_repo / "affine" / "2" / "model.onnx").write_bytes(b"junk")
    client = make_client()
    body = client.get("/v2/models/affine/versions/2").json()
    assert body["state"] == "UNAVAILABLE" and "cannot load model.onnx" in body["reason"]
    r = client.get("/v2/models/affine/versions/2/ready")
    assert r.status_code == 503 and "UNAVAILABLE" in r.json()["error"]
    assert client.get("/v2/models/affine/ready").json()["version"] == "1"


def test_unknown_model(client):
    r = client.get("/v2/models/nope")
    assert r.status_code == 404
    assert r.json() == {"error": "unknown model 'nope'; available: ['affine', 'sequence']"}


def test_metrics_are_prometheus_text(client):
    client.post("/v2/models/affine/infer", json={"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 0, 0]}]})
    text = client.get("/metrics").text
    assert 'nv_inference_request_success{model="affine",version="2"} 1\n' in text
    assert 'ortserve_model_info{model="affine",provider="CPUExecutionProvider",version="2"} 1.0' in text
    assert "ortserve_batch_size_bucket" in text
