from __future__ import annotations

import numpy as np
import orjson
import pytest

from service.core.errors import InvalidInput, PayloadTooLarge
from service.protocol.inference import build_response, parse_request


def parse(body: bytes, length: str | None = None, model: str = "m", version: str | None = None):
    return parse_request(body, length, model, version)


def binary_body(header: dict, *buffers: bytes) -> tuple[bytes, str]:
    head = orjson.dumps(header)
    return head + b"".join(buffers), str(len(head))


def test_json_request_becomes_the_cores_typed_request():
    body = orjson.dumps({"id": "7", "inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]})
    wire = parse(body, model="digits", version="3")
    req = wire.request
    assert (req.model, req.version, req.id, req.outputs, req.deadline) == ("digits", "3", "7", None, None)
    np.testing.assert_array_equal(req.inputs["x"], [[1, 2]])
    assert wire.outputs is None and wire.binary_default is False


def test_requested_outputs_keep_their_order_and_become_a_frozenset():
    body = orjson.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
                         "outputs": [{"name": "b"}, {"name": "a", "parameters": {"binary_data": True}}]})
    wire = parse(body)
    assert [(o.name, o.binary) for o in wire.outputs] == [("b", False), ("a", True)]
    assert wire.request.outputs == frozenset({"a", "b"})


def test_bytes_from_json_stay_text():
    body = orjson.dumps({"inputs": [{"name": "t", "shape": [2], "datatype": "BYTES", "data": ["héllo", ""]}]})
    assert parse(body).request.inputs["t"].tolist() == ["héllo", ""]


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
    wire = parse(body, length)
    np.testing.assert_array_equal(wire.request.inputs["a"], a)
    np.testing.assert_array_equal(wire.request.inputs["b"], b)
    assert wire.outputs[0].binary


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
        parse(orjson.dumps(doc))


def test_not_json():
    with pytest.raises(InvalidInput, match="request body is not valid JSON"):
        parse(b"{oops")


def test_nesting_limit():
    deep = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}], "parameters": {}}
    node = deep["parameters"]
    for _ in range(40):
        node["n"] = {}
        node = node["n"]
    with pytest.raises(PayloadTooLarge, match="JSON nesting depth exceeds the limit of 32"):
        parse(orjson.dumps(deep))


@pytest.mark.parametrize("bad", [0, -1, True, "1", None])
def test_a_bad_timeout_parameter_is_refused_when_parsed(bad):
    parameters = {"timeout": bad} if bad is not None else {"timeout": {"s": 1}}
    body = orjson.dumps({"parameters": parameters, "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]})
    with pytest.raises(InvalidInput, match=r"parameter 'timeout' must be a positive number of microseconds, got "):
        parse(body)


def test_the_timeout_parameter_becomes_a_deadline_in_microseconds_as_in_triton():
    body = orjson.dumps({"parameters": {"timeout": 2_500_000}, "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]})
    deadline = parse(body).request.deadline
    assert deadline.seconds == 2.5 and 2.4 < deadline.remaining() <= 2.5


def test_response_mixes_json_and_binary_outputs():
    body = orjson.dumps({"id": "r", "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
                         "outputs": [{"name": "y"}, {"name": "z", "parameters": {"binary_data": True}}]})
    wire = parse(body)
    results = {"y": np.array([[1.0, 2.0]], np.float32), "z": np.array([[7]], np.int64)}
    payload, length = build_response("1", wire, results, {"y": "FP32", "z": "INT64"})
    header = orjson.loads(payload[:length])
    assert header["id"] == "r" and header["model_version"] == "1"
    assert header["outputs"][0] == {"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [1.0, 2.0]}
    assert header["outputs"][1]["parameters"] == {"binary_data_size": 8}
    assert payload[length:] == np.int64(7).tobytes()


def test_binary_data_output_applies_to_all_outputs():
    body = orjson.dumps({"parameters": {"binary_data_output": True},
                         "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]})
    wire = parse(body)
    payload, length = build_response("1", wire, {"y": np.ones((1,), np.float32)}, {"y": "FP32"})
    assert length is not None and payload[length:] == np.float32(1).tobytes()
