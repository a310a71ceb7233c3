"""Triton's model-configuration and statistics extensions over HTTP."""

from __future__ import annotations

X = {"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [0] * 8}


def test_extensions_are_listed(client):
    extensions = client.get("/v2").json()["extensions"]
    assert "model_configuration" in extensions and "statistics" in extensions


def test_model_config_has_tritons_shape(client):
    config = client.get("/v2/models/sequence/config").json()
    assert config["name"] == "sequence" and config["backend"] == "onnxruntime"
    assert config["max_batch_size"] == 16
    assert config["input"] == [
        {"name": "frames", "data_type": "TYPE_FP32", "dims": [-1, 3]},
        # One number per item, in Triton's words: dims [1], reshaped to [] for the model.
        {"name": "lengths", "data_type": "TYPE_INT64", "dims": [1], "reshape": {"shape": []}},
    ]
    assert config["instance_group"] == [{"name": "sequence_0", "kind": "KIND_CPU", "count": 1}]
    assert set(config["dynamic_batching"]) == {"max_queue_delay_microseconds", "default_queue_policy"}
    assert config["dynamic_batching"]["default_queue_policy"]["default_timeout_microseconds"] == 30_000_000


def test_model_config_of_a_version_and_errors(client):
    assert client.get("/v2/models/affine/versions/1/config").json()["name"] == "affine"
    r = client.get("/v2/models/affine/versions/9/config")
    assert r.status_code == 404
    assert r.json() == {"error": "model 'affine' has no version '9'; versions: [1, 2]"}
    r = client.get("/v2/models/nope/config")
    assert r.status_code == 404
    assert r.json() == {"error": "unknown model 'nope'; available: ['affine', 'sequence']"}


def test_statistics_count_requests_items_and_batches(client):
    for _ in range(3):
        assert client.post("/v2/models/affine/infer", json={"inputs": [X]}).status_code == 200
    assert client.post("/v2/models/affine/infer", json={"inputs": [{**X, "shape": [2, 3], "data": [0] * 6}]}).status_code == 400
    (stats,) = client.get("/v2/models/affine/versions/2/stats").json()["model_stats"]
    assert (stats["name"], stats["version"]) == ("affine", "2")
    assert stats["inference_count"] == 6 and stats["execution_count"] == 3
    inference = stats["inference_stats"]
    assert inference["success"]["count"] == 3 and inference["success"]["ns"] > 0
    assert inference["fail"]["count"] == 1
    assert inference["queue"]["count"] == 3 and inference["compute_infer"]["count"] == 3
    assert [b["batch_size"] for b in stats["batch_stats"]] == [2]
    assert stats["batch_stats"][0]["compute_infer"]["count"] == 3


def test_statistics_of_every_model_and_of_one_model(client):
    every = client.get("/v2/models/stats").json()["model_stats"]
    assert [(s["name"], s["version"]) for s in every] == [("affine", "1"), ("affine", "2"), ("sequence", "1")]
    one = client.get("/v2/models/affine/stats").json()["model_stats"]
    assert [s["version"] for s in one] == ["1", "2"]


def test_statistics_need_the_api_key_when_one_is_set(make_client):
    client = make_client(api_key="k")
    assert client.get("/v2/models/stats").status_code == 401
    assert client.get("/v2/models/stats", headers={"Authorization": "Bearer k"}).status_code == 200
    assert client.get("/v2/models/affine/config").status_code == 200  # like metadata: open
