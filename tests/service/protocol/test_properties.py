"""Property-based tests of the request parser: round trips and malformed input.

Bodies are encoded here independently of service/protocol (struct and numpy
only), so the parser is checked against the spec, not against its own encoder.
Budgets stay small for CI (100 examples per test, no deadline); raise them
locally with HYPOTHESIS_MAX_EXAMPLES=5000.
"""

from __future__ import annotations

import json
import math
import os
import struct

import numpy as np
import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from service.core.datatypes import kserve_datatype
from service.core.errors import ClientError, InvalidInput, PayloadTooLarge
from service.protocol.inference import parse_request
from service.protocol.json_tensors import check_shape, decode_json_data

budget = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NUMERIC = {
    "BOOL": np.dtype("?"), "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"), "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"), "INT8": np.dtype("<i1"), "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"), "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
}
DATATYPES = [*NUMERIC, "BYTES"]
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


@st.composite
def tensors(draw, finite: bool = False, text: bool = False) -> tuple[str, np.ndarray]:
    """(datatype, array); BYTES arrays hold bytes (valid UTF-8 when `text`, as JSON needs)."""
    datatype = draw(st.sampled_from(DATATYPES))
    shape = draw(shapes)
    if datatype == "BYTES":
        element = st.text(max_size=6).map(str.encode) if text else st.binary(max_size=6)
        values = draw(st.lists(element, min_size=math.prod(shape), max_size=math.prod(shape)))
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return datatype, array.reshape(shape)
    dtype = NUMERIC[datatype]
    elements = hnp.from_dtype(dtype, allow_nan=not finite, allow_infinity=not finite) if dtype.kind == "f" else None
    return datatype, draw(hnp.arrays(dtype, shape, elements=elements))


def raw_bytes(datatype: str, array: np.ndarray) -> bytes:
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(v)) + v for v in array.reshape(-1))
    return array.astype(NUMERIC[datatype]).tobytes()


def json_data(datatype: str, array: np.ndarray, nested: bool) -> list:
    """Row-major flat, or nested like the shape ('data' is always a list, even for a scalar)."""
    if datatype == "BYTES":
        array = np.vectorize(lambda b: b.decode(), otypes=[object])(array) if array.size else array
    return array.tolist() if nested and array.ndim else array.reshape(-1).tolist()


def assert_same(datatype: str, got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    if datatype == "BYTES":  # JSON strings arrive as text, binary elements as bytes
        as_bytes = [v.encode() if isinstance(v, str) else v for v in got.reshape(-1)]
        assert got.dtype == object and as_bytes == list(want.reshape(-1))
    else:
        assert got.dtype == NUMERIC[datatype]
        assert np.array_equal(got, want, equal_nan=got.dtype.kind == "f")


@st.composite
def requests(draw):
    """A body mixing binary and JSON tensors, its header length, and the expected arrays."""
    count = draw(st.integers(1, 3))
    header_inputs, raws, expected = [], [], {}
    for i in range(count):
        binary = draw(st.booleans())
        datatype, array = draw(tensors(finite=not binary, text=not binary))
        entry = {"name": f"in{i}", "shape": list(array.shape), "datatype": datatype}
        if binary:
            raw = raw_bytes(datatype, array)
            entry["parameters"] = {"binary_data_size": len(raw)}
            raws.append(raw)
        else:
            entry["data"] = json_data(datatype, array, nested=draw(st.booleans()))
        header_inputs.append(entry)
        expected[entry["name"]] = (datatype, array)
    header = orjson.dumps({"id": "p", "inputs": header_inputs})
    return header + b"".join(raws), str(len(header)) if raws else None, expected


@budget
@given(requests())
def test_parse_request_round_trips_binary_and_json_tensors(case):
    body, header_length, expected = case
    parsed = parse_request(body, header_length, "m", None).request
    assert list(parsed.inputs) == list(expected)
    for name, (datatype, array) in expected.items():
        assert kserve_datatype(parsed.inputs[name].dtype) == datatype
        assert_same(datatype, parsed.inputs[name], array)


@st.composite
def mutated(draw):
    """A valid body, then truncated, extended, byte-flipped, or its header length lied about."""
    body, header_length, _ = draw(requests())
    kind = draw(st.sampled_from(["truncate", "extend", "flip", "header", "splice"]))
    if kind == "truncate" and body:
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif kind == "extend":
        body = body + draw(st.binary(min_size=1, max_size=16))
    elif kind == "flip" and body:
        i = draw(st.integers(0, len(body) - 1))
        body = body[:i] + bytes([body[i] ^ draw(st.integers(1, 255))]) + body[i + 1 :]
    elif kind == "header":
        header_length = draw(st.one_of(st.none(), st.integers(-5, len(body) + 5).map(str), st.text(max_size=4)))
    else:
        i = draw(st.integers(0, len(body)))
        body = body[:i] + draw(st.binary(max_size=8)) + body[i:]
    return body, header_length


def _only_client_errors(body: bytes, header_length: str | None) -> None:
    try:
        parse_request(body, header_length, "m", None)
    except (InvalidInput, PayloadTooLarge):
        pass  # PayloadTooLarge only for JSON nested past the depth limit (413)


@budget
@given(mutated())
def test_malformed_bodies_raise_invalid_input_only(case):
    _only_client_errors(*case)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=20,
)
huge_dims = st.lists(st.one_of(st.integers(-2, 5), st.integers(2**30, 2**80)), max_size=4)


@budget
@given(
    inputs=st.lists(
        st.fixed_dictionaries(
            {"name": st.text(max_size=3), "shape": st.one_of(huge_dims, json_values), "datatype": st.sampled_from(DATATYPES)},
            optional={"data": json_values, "parameters": st.one_of(
                json_values, st.fixed_dictionaries({"binary_data_size": st.one_of(st.integers(-2, 64), json_values)})
            )},
        ),
        max_size=3,
    ),
    tail=st.binary(max_size=64),
    binary=st.booleans(),
)
@example(  # a BYTES tensor declaring 2**40 elements in a 4-byte body must not allocate them first
    inputs=[{"name": "t", "shape": [2**40], "datatype": "BYTES", "parameters": {"binary_data_size": 4}}],
    tail=b"\0\0\0\0", binary=True,
)
@example(  # zero elements, but a dimension numpy cannot represent
    inputs=[{"name": "t", "shape": [0, 2**70], "datatype": "FP32", "parameters": {"binary_data_size": 0}}],
    tail=b"", binary=True,
)
@example(inputs=[{"name": "t", "shape": [0, 2**62, 2**62], "datatype": "INT8", "data": []}], tail=b"", binary=False)
def test_structurally_wrong_requests_raise_invalid_input_only(inputs, tail, binary):
    header = json.dumps({"inputs": inputs}).encode()
    if binary:
        _only_client_errors(header + tail, str(len(header)))
    else:
        _only_client_errors(header, None)


# -- JSON tensor decoding ------------------------------------------------------------


@budget
@given(tensors(finite=True, text=True), st.booleans())
def test_decode_json_data_is_lossless_flat_or_nested(tensor, nested):
    datatype, array = tensor
    data = orjson.loads(orjson.dumps(json_data(datatype, array, nested)))  # as it arrives on the wire
    assert_same(datatype, decode_json_data("x", datatype, list(array.shape), data), array)


@budget
@given(st.sampled_from(DATATYPES), st.one_of(huge_dims, shapes.map(list)), json_values)
@example("UINT8", [2], [255, 256])
@example("INT64", [1], [9.223372036854775807e18])  # 2**63 as a float: one past INT64's max
@example("UINT64", [1], [1.8446744073709552e19])  # 2**64 as a float
def test_decode_json_data_errors_are_invalid_input_and_results_exact(datatype, shape, data):
    try:  # as parse_request does: the shape is checked first
        result = decode_json_data("x", datatype, check_shape("x", shape), data)
    except InvalidInput:
        return
    assert list(result.shape) == shape
    if datatype in ("BYTES", "BOOL") or result.dtype.kind == "f":
        return
    flat = np.asarray(data, dtype=object).reshape(-1) if result.size else []
    # Integer targets: what was accepted is exactly what was sent, never wrapped around.
    assert all(int(got) == want for got, want in zip(result.reshape(-1).tolist(), flat)), (data, result)


def test_client_error_is_the_common_base():
    assert issubclass(InvalidInput, ClientError) and issubclass(PayloadTooLarge, ClientError)
