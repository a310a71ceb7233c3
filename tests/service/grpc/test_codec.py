from __future__ import annotations

import struct

import numpy as np
import pytest

from service.core.errors import InvalidInput
from service.grpc._generated import grpc_service_pb2 as pb
from service.grpc.codec import decode_request, encode_response


def _request(*inputs, raw=(), outputs=(), **parameters) -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name="m", inputs=list(inputs), raw_input_contents=list(raw))
    for name in outputs:
        message.outputs.add(name=name)
    for key, value in parameters.items():
        message.parameters[key].double_param = value
    return message


def _tensor(name, datatype, shape, **contents) -> pb.ModelInferRequest.InferInputTensor:
    tensor = pb.ModelInferRequest.InferInputTensor(name=name, datatype=datatype, shape=shape)
    if contents:
        tensor.contents.CopyFrom(pb.InferTensorContents(**contents))
    return tensor


def test_raw_contents_decode_little_endian():
    x = np.arange(6, dtype="<f4").reshape(2, 3)
    decoded = decode_request(_request(_tensor("x", "FP32", [2, 3]), raw=[x.tobytes()]))
    np.testing.assert_array_equal(decoded.request.inputs["x"], x)
    assert decoded.binary_default and decoded.outputs is None and decoded.request.outputs is None
    assert (decoded.request.model, decoded.request.version, decoded.request.deadline) == ("m", None, None)


def test_raw_bytes_elements_carry_a_length_prefix():
    raw = b"".join(struct.pack("<I", len(s)) + s for s in (b"hi", b"", b"\xff\x00"))
    decoded = decode_request(_request(_tensor("t", "BYTES", [3]), raw=[raw]))
    assert decoded.request.inputs["t"].tolist() == [b"hi", b"", b"\xff\x00"]


def test_typed_contents_decode_into_the_declared_type():
    decoded = decode_request(_request(
        _tensor("a", "INT8", [2], int_contents=[-128, 127]),
        _tensor("b", "BYTES", [1, 2], bytes_contents=[b"x", b"yz"]),
        _tensor("c", "BOOL", [1], bool_contents=[True]),
    ))
    inputs = decoded.request.inputs
    assert inputs["a"].dtype == np.int8 and inputs["a"].tolist() == [-128, 127]
    assert inputs["b"].tolist() == [[b"x", b"yz"]]
    assert inputs["c"].tolist() == [True]
    assert not decoded.binary_default


def test_typed_values_out_of_range_are_refused():
    with pytest.raises(InvalidInput, match=r"^input 'a': values overflow INT8$"):
        decode_request(_request(_tensor("a", "INT8", [1], int_contents=[300])))


def test_typed_value_count_must_match_the_shape():
    with pytest.raises(InvalidInput, match=r"^input 'x': shape \[2, 2\] needs 4 values in 'fp32_contents', got 3$"):
        decode_request(_request(_tensor("x", "FP32", [2, 2], fp32_contents=[1, 2, 3])))


def test_fp16_has_no_typed_field():
    with pytest.raises(InvalidInput, match="FP16 has no typed contents field; send it in raw_input_contents"):
        decode_request(_request(_tensor("h", "FP16", [1])))


def test_raw_and_input_counts_must_agree():
    with pytest.raises(InvalidInput, match="raw_input_contents has 1 entries but the request has 2 inputs"):
        decode_request(_request(_tensor("x", "FP32", [1]), _tensor("y", "FP32", [1]), raw=[b"\0" * 4]))


def test_raw_size_is_checked_with_the_http_words():
    with pytest.raises(InvalidInput, match=r"input 'x': shape \[2\] of FP32 needs 8 bytes, but binary_data_size is 4"):
        decode_request(_request(_tensor("x", "FP32", [2]), raw=[b"\0" * 4]))


def test_bad_datatype_and_duplicates_are_refused():
    with pytest.raises(InvalidInput, match=r"input 'x': 'datatype' must be one of"):
        decode_request(_request(_tensor("x", "FLOAT", [1], fp32_contents=[1])))
    with pytest.raises(InvalidInput, match=r"^input 'x' appears more than once$"):
        decode_request(_request(_tensor("x", "FP32", [1], fp32_contents=[1]), _tensor("x", "FP32", [1], fp32_contents=[1])))


def test_timeout_parameter_is_in_microseconds_as_in_triton():
    # tritonclient's infer(timeout=250000) sends an int64 parameter: 0.25 s to Triton, and here.
    message = _request(_tensor("x", "FP32", [1], fp32_contents=[1]))
    message.parameters["timeout"].int64_param = 250_000
    assert decode_request(message).request.deadline.seconds == 0.25
    with pytest.raises(InvalidInput, match=r"^parameter 'timeout' must be a positive number of microseconds, got -1.0$"):
        decode_request(_request(_tensor("x", "FP32", [1], fp32_contents=[1]), timeout=-1.0))


def test_the_calls_own_deadline_wins_when_it_comes_first():
    message = _request(_tensor("x", "FP32", [1], fp32_contents=[1]), timeout=10e6)
    assert decode_request(message, time_remaining=0.5).request.deadline.seconds == 0.5
    assert decode_request(message, time_remaining=60.0).request.deadline.seconds == 10.0
    plain = _request(_tensor("x", "FP32", [1], fp32_contents=[1]))
    assert decode_request(plain, time_remaining=2.0).request.deadline.seconds == 2.0


def test_response_uses_the_form_of_the_request_and_only_requested_outputs():
    results = {"y": np.array([[1.5, 2.5]], np.float32), "z": np.array([[b"ab"]], dtype=object)}
    datatypes = {"y": "FP32", "z": "BYTES"}
    typed = decode_request(_request(_tensor("x", "FP32", [1], fp32_contents=[1])))
    response = encode_response(typed, "3", results, datatypes)
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [("y", "FP32", [1, 2]), ("z", "BYTES", [1, 1])]
    assert list(response.outputs[0].contents.fp32_contents) == [1.5, 2.5]
    assert list(response.outputs[1].contents.bytes_contents) == [b"ab"]
    assert not response.raw_output_contents and response.model_version == "3"

    raw = decode_request(_request(_tensor("x", "FP32", [1]), raw=[b"\0" * 4], outputs=["z"]))
    response = encode_response(raw, "3", results, datatypes)
    assert [o.name for o in response.outputs] == ["z"]
    assert list(response.raw_output_contents) == [struct.pack("<I", 2) + b"ab"]


def test_fp16_outputs_force_raw_for_every_output():
    typed = decode_request(_request(_tensor("x", "FP32", [1], fp32_contents=[1])))
    results = {"h": np.array([1.0], np.float16), "y": np.array([2.0], np.float32)}
    response = encode_response(typed, "1", results, {"h": "FP16", "y": "FP32"})
    assert len(response.raw_output_contents) == 2
    assert np.frombuffer(response.raw_output_contents[0], "<f2").tolist() == [1.0]
