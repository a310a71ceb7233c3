"""Request builders agree with the service's own protocol parser; responses decode."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from scripts.loadtest.payloads import (
    HEADER,
    build_binary,
    build_friendly,
    build_json,
    encode_tensor,
    parse_infer_response,
)
from service.protocol.inference import RequestedOutput, build_response, parse_request

INPUTS = {
    "frames": np.arange(24, dtype=np.float32).reshape(2, 4, 3) / 7,
    "lengths": np.array([4, 2], dtype=np.int64),
}


def test_binary_request_is_what_the_service_parses():
    spec = build_binary("vowels", None, INPUTS, ["probabilities"])
    assert spec.path == "/v2/models/vowels/infer" and spec.items == 2
    parsed = parse_request(spec.body, spec.headers[HEADER], "vowels", None)
    for name, array in INPUTS.items():
        np.testing.assert_array_equal(parsed.request.inputs[name], array)
    assert parsed.outputs == [RequestedOutput("probabilities", True)]
    assert parsed.binary_default


def test_json_request_is_what_the_service_parses():
    spec = build_json("vowels", "3", INPUTS, ["probabilities"])
    assert spec.path == "/v2/models/vowels/versions/3/infer"
    parsed = parse_request(spec.body, None, "vowels", "3").request
    for name, array in INPUTS.items():
        np.testing.assert_allclose(parsed.inputs[name], array, rtol=1e-7)
        assert parsed.inputs[name].dtype == {"frames": np.float32, "lengths": np.int64}[name]


def test_bytes_tensors_carry_a_length_prefix():
    raw = encode_tensor(np.array([b"ab", "cde"], dtype=object))
    assert raw == b"\x02\x00\x00\x00ab\x03\x00\x00\x00cde"


@pytest.mark.parametrize("binary", [True, False])
def test_responses_decode_binary_or_json(binary):
    wire = parse_request(build_json("m", None, {"x": np.zeros((2, 1), np.float32)}, ["p", "n"]).body, None, "m", None)
    wire.outputs = [RequestedOutput("p", binary), RequestedOutput("n", binary)]
    results = {"p": np.array([[0.25, 0.75], [1.0, 0.0]], np.float32), "n": np.array([3, 4], np.int64)}
    body, header_length = build_response("1", wire, results, {"p": "FP32", "n": "INT64"})
    decoded = parse_infer_response(body, None if header_length is None else str(header_length))
    for name, array in results.items():
        np.testing.assert_array_equal(decoded[name], array)


async def test_friendly_image_is_a_png_upload_in_field_file():
    image = np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 8, 8)
    spec = build_friendly("digits", None, [image], kind="image")
    assert spec.path == "/v2/models/digits/predict"

    async def echo(request: Request) -> JSONResponse:
        upload = (await request.form())["file"]
        pixels = np.asarray(Image.open(io.BytesIO(await upload.read())))
        return JSONResponse({"type": upload.content_type, "pixels": pixels.tolist()})

    app = Starlette(routes=[Route("/v2/models/digits/predict", echo, methods=["POST"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        got = (await client.post(spec.path, content=spec.body, headers=spec.headers)).json()
    assert got["type"] == "image/png"
    np.testing.assert_array_equal(got["pixels"], np.rint(image[0] * 255))


def test_friendly_text_and_sequence_bodies():
    text = build_friendly("lang", None, ["hola", "hello"], kind="text")
    assert json.loads(text.body) == {"text": ["hola", "hello"]} and text.items == 2
    seq = build_friendly("vowels", None, [np.ones((3, 2), np.float32)], kind="sequence")
    assert json.loads(seq.body) == {"frames": [[1.0, 1.0]] * 3}


def test_friendly_mode_refuses_data_it_cannot_send():
    with pytest.raises(ValueError, match="one PNG per request"):
        build_friendly("digits", None, [np.zeros((8, 8))] * 2, kind="image")
    with pytest.raises(ValueError, match="not 'tensor'"):
        build_friendly("m", None, [{}], kind="tensor")


def test_grpc_request_is_what_tritonclient_grpc_sends():
    from tritonclient.grpc import service_pb2

    from scripts.loadtest.grpc_transport import INFER_METHOD, build_grpc, outcome_of

    spec = build_grpc("vowels", "2", INPUTS, ["probabilities"])
    assert (spec.path, spec.method, spec.items) == (INFER_METHOD, "GRPC", 2)
    request = service_pb2.ModelInferRequest.FromString(spec.body)
    assert (request.model_name, request.model_version) == ("vowels", "2")
    assert [(t.name, t.datatype, list(t.shape)) for t in request.inputs] == [
        ("frames", "FP32", [2, 4, 3]), ("lengths", "INT64", [2]),
    ]
    np.testing.assert_array_equal(np.frombuffer(request.raw_input_contents[0], "<f4").reshape(2, 4, 3), INPUTS["frames"])
    assert [o.name for o in request.outputs] == ["probabilities"]
    import grpc

    assert outcome_of(grpc.StatusCode.OK) == "200"
    assert outcome_of(grpc.StatusCode.UNAVAILABLE) == "UNAVAILABLE"
