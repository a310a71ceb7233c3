from __future__ import annotations

import numpy as np
import orjson
import pytest

from service.core.errors import InvalidInput, PayloadTooLarge
from service.protocol.inference import build_response, parse_request


def binary_body(header: dict, *buffers: bytes) -> tuple[bytes, str]:
    head = orjson.dumps(header)
    return head + b"".join(buffers), str(len(head))


def test_json_request():
    body = orjson.dumps({"id": "7", "inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]})
    req = parse_request(body, None)
    assert req.id == "7"
    np.testing.assert_array_equal(req.inputs["x"], [[1, 2]])
    assert req.outputs is None


def test_binary_request_with_two_tensors_in_order():
    a = np.array([[1.5, 2.5]], np.float32)
    b = np.array([3], np.int64)
    body, length = binary_body(
        {"inputs": [
            {"name": "a", "shape": [1, 2], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
            {"name": "b", "shape": [1], "datatype": "INT64", "parameters": {"binary_data_size": 8}},
        ], "outputs": [{"name": "y", "parameters": {"binary_data": True}}]},
        a.tobytes(), b.tobytes(),
    )
    req = parse_request(body, length)
    np.testing.assert_array_equal(req.inputs["a"], a)
    np.testing.assert_array_equal(req.inputs["b"], b)
    assert req.outputs[0].binary


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"inputs": []}, "'inputs' must be a non-empty list"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}, "needs 'data' or a binary_data_size"),
        ({"inputs": [{"name": "x", "shape": "1", "datatype": "FP32", "data": [1]}]}, "'shape' must be a list of integers"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "F32", "data": [1]}]}, "'datatype' must be one of"),
        ({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}, "'name' must be a non-empty string"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}] * 2}, "appears more than once"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}], "id": 5}, "'id' must be a string"),
        ([1, 2], "request body must be a JSON object"),
    ],
)
def test_malformed_requests(doc, message):
    with pytest.raises(InvalidInput, match=message):
        parse_request(orjson.dumps(doc), None)


def test_not_json():
    with pytest.raises(InvalidInput, match="request body is not valid JSON"):
        parse_request(b"{oops", None)


def test_nesting_limit():
    deep = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}], "parameters": {}}
    node = deep["parameters"]
    for _ in range(40):
        node["n"] = {}
        node = node["n"]
    with pytest.raises(PayloadTooLarge, match="JSON nesting depth exceeds the limit of 32"):
        parse_request(orjson.dumps(deep), None)


def test_timeout_parameter():
    body = orjson.dumps({"parameters": {"timeout": 0}, "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]})
    with pytest.raises(InvalidInput, match="parameter 'timeout' must be a positive number of seconds, got 0"):
        _ = parse_request(body, None).timeout_s


def test_response_mixes_json_and_binary_outputs():
    body = orjson.dumps({"id": "r", "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
                         "outputs": [{"name": "y"}, {"name": "z", "parameters": {"binary_data": True}}]})
    req = parse_request(body, None)
    results = {"y": np.array([[1.0, 2.0]], np.float32), "z": np.array([[7]], np.int64)}
    payload, length = build_response("m", "1", req, results, {"y": "FP32", "z": "INT64"})
    header = orjson.loads(payload[:length])
    assert header["id"] == "r" and header["model_version"] == "1"
    assert header["outputs"][0] == {"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [1.0, 2.0]}
    assert header["outputs"][1]["parameters"] == {"binary_data_size": 8}
    assert payload[length:] == np.int64(7).tobytes()


def test_binary_data_output_applies_to_all_outputs():
    body = orjson.dumps({"parameters": {"binary_data_output": True},
                         "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]})
    req = parse_request(body, None)
    payload, length = build_response("m", "1", req, {"y": np.ones((1,), np.float32)}, {"y": "FP32"})
    assert length is not None and payload[length:] == np.float32(1).tobytes()
