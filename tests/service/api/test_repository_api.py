from __future__ import annotations

from tests.tiny_models import _save, affine_graph

X = {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 0, 0]}


def test_index_is_open_and_lists_states(client):
    r = client.post("/v2/repository/index")
    assert r.status_code == 200
    assert {(m["name"], m["version"], m["state"]) for m in r.json()} == {
        ("affine", "1", "READY"), ("affine", "2", "READY"), ("sequence", "1", "READY")}
    assert len(client.post("/v2/repository/index", json={"ready": True}).json()) == 3


def test_admin_endpoints_disabled_without_token(client):
    r = client.post("/v2/repository/models/affine/unload")
    assert r.status_code == 403
    assert r.json() == {"error": "admin endpoints are disabled: set ORTSERVE_ADMIN_TOKEN to enable them"}


def test_admin_endpoints_need_the_token(make_client):
    client = make_client(admin_token="s3cret")
    assert client.post("/v2/repository/models/affine/unload").status_code == 401
    r = client.post("/v2/repository/models/affine/unload", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401


def test_reload_picks_up_new_version(make_client, tiny_repo):
    client = make_client(admin_token="s3cret")
    auth = {"Authorization": "Bearer s3cret"}
    _save(affine_graph(offset=100.0), tiny_repo / "affine" / "3" / "model.onnx")
    r = client.post("/v2/repository/models/affine/load", headers=auth)
    assert r.status_code == 200 and r.json()["versions"] == ["1", "2", "3"]
    out = client.post("/v2/models/affine/infer", json={"inputs": [X]}).json()
    assert out["model_version"] == "3" and out["outputs"][0]["data"] == [100.0] * 4


def test_unload_and_load_again(make_client):
    client = make_client(admin_token="s3cret")
    auth = {"Authorization": "Bearer s3cret"}
    assert client.post("/v2/repository/models/affine/unload", headers=auth).json()["state"] == "UNLOADED"
    r = client.post("/v2/models/affine/infer", json={"inputs": [X]})
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert client.post("/v2/repository/models/affine/load", headers=auth).status_code == 200
    assert client.post("/v2/models/affine/infer", json={"inputs": [X]}).status_code == 200


def test_failed_load_is_400_and_names_the_reason(make_client, tiny_repo):
    client = make_client(admin_token="s3cret")
    (tiny_repo / "affine" / "config.json").write_text("{")
    r = client.post("/v2/repository/models/affine/load", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("failed to load 'affine': model 'affine': unreadable config.json")


def test_load_refuses_names_outside_the_repository(make_client):
    client = make_client(admin_token="s3cret")
    r = client.post("/v2/repository/models/..%2F..%2Fetc/load", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 404
