from __future__ import annotations

import numpy as np
import orjson

X = {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}


def test_json_infer_latest_and_named_version(client):
    r = client.post("/v2/models/affine/infer", json={"id": "a", "inputs": [X]})
    assert r.status_code == 200
    body = r.json()
    assert body["model_version"] == "2" and body["id"] == "a"
    assert body["outputs"][0]["data"] == [12.0, 14.0, 16.0, 18.0]
    r = client.post("/v2/models/affine/versions/1/infer", json={"inputs": [X], "outputs": [{"name": "z"}]})
    assert [o["name"] for o in r.json()["outputs"]] == ["z"]


def test_binary_infer_round_trip(client):
    x = np.array([[1, 2, 3, 4]], np.float32)
    header = orjson.dumps({
        "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}],
        "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
    })
    r = client.post("/v2/models/affine/infer", content=header + x.tobytes(),
                    headers={"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"})
    assert r.status_code == 200
    length = int(r.headers["Inference-Header-Content-Length"])
    meta = orjson.loads(r.content[:length])
    assert meta["outputs"][0]["parameters"]["binary_data_size"] == 16
    np.testing.assert_allclose(np.frombuffer(r.content[length:], np.float32), [12, 14, 16, 18])


def test_variable_length_sequences(client):
    frames = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    r = client.post("/v2/models/sequence/infer", json={"inputs": [
        {"name": "frames", "shape": [1, 2, 3], "datatype": "FP32", "data": frames.ravel().tolist()},
        {"name": "lengths", "shape": [1], "datatype": "INT64", "data": [2]},
    ]})
    outs = {o["name"]: o for o in r.json()["outputs"]}
    assert outs["total"]["data"] == [3.0, 5.0, 7.0]
    assert outs["doubled"]["shape"] == [1, 2, 3]


def error(client, path, **kw):
    r = client.post(path, **kw)
    return r.status_code, r.json()["error"]


def test_client_mistakes_are_4xx_naming_the_problem(client):
    path = "/v2/models/affine/infer"
    assert error(client, path, json={"inputs": [{**X, "shape": [1, 3], "data": [1, 2, 3]}]}) == (
        400, "model 'affine', input 'x': expected shape [-1, 4] (-1 = any), got [1, 3]")
    assert error(client, path, json={"inputs": [{**X, "datatype": "FP64"}]}) == (
        400, "model 'affine', input 'x': expected datatype FP32, got FP64")
    assert error(client, path, json={"inputs": [{**X, "name": "w"}]}) == (
        400, "model 'affine': unknown input(s) ['w']; expected ['x']")
    assert error(client, path, json={"inputs": [{**X, "data": [1, 2]}]}) == (
        400, "input 'x': shape [1, 4] needs 4 elements, but 'data' has 2")
    assert error(client, path, json={"inputs": [X], "outputs": [{"name": "q"}]}) == (
        400, "model 'affine': unknown output(s) ['q']; expected some of ['y', 'z']")
    assert error(client, "/v2/models/nope/infer", json={"inputs": [X]})[0] == 404
    assert error(client, "/v2/models/affine/versions/9/infer", json={"inputs": [X]}) == (
        404, "model 'affine' has no version '9'; versions: [1, 2]")
    status, message = error(client, path, content=b"{}", headers={"Inference-Header-Content-Length": "50"})
    assert status == 400 and "Inference-Header-Content-Length is 50 but the body has only 2 bytes" in message


def test_batch_larger_than_max_is_rejected(client):
    data = np.zeros((9, 4)).tolist()
    assert error(client, "/v2/models/affine/infer", json={"inputs": [{**X, "shape": [9, 4], "data": data}]}) == (
        400, "model 'affine': batch of 9 rows exceeds max_batch_size 8")
