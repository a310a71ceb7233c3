"""Parsing an OIP inference request body and building its response body.

Pure bytes in, bytes out: the HTTP layer only moves headers and bodies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from ..core.errors import InvalidInput, PayloadTooLarge
from ..core.validation import check_timeout
from .binary import HEADER, BinaryReader, binary_view, decode_binary_tensor, split_body
from .json_tensors import check_datatype, check_shape, decode_json_data, encode_json_data


@dataclass
class RequestedOutput:
    name: str
    binary: bool


@dataclass
class InferenceRequest:
    id: str | None
    parameters: dict[str, Any]
    inputs: dict[str, np.ndarray]
    outputs: list[RequestedOutput] | None = None
    binary_default: bool = False
    datatypes: dict[str, str] = field(default_factory=dict)

    @property
    def timeout_s(self) -> float | None:
        return check_timeout(self.parameters.get("timeout"))


def json_depth(value: Any, limit: int, depth: int = 1) -> None:
    """Reject absurd nesting. orjson itself stops at 1024 levels, so this walks
    the parsed document; lists of scalars (tensor data) end the walk at once."""
    if depth > limit:
        raise PayloadTooLarge(f"JSON nesting depth exceeds the limit of {limit}")
    if isinstance(value, dict):
        for item in value.values():
            if isinstance(item, (dict, list)):
                json_depth(item, limit, depth + 1)
    elif isinstance(value, list) and value and isinstance(value[0], (dict, list)):
        for item in value:
            if isinstance(item, (dict, list)):
                json_depth(item, limit, depth + 1)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def parse_request(body: bytes, header_length: str | None, *, max_depth: int = 32) -> InferenceRequest:
    header, remainder = split_body(body, header_length)
    try:
        doc = _object(orjson.loads(header), "request body")
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None
    json_depth(doc, max_depth)
    parameters = _object(doc.get("parameters") or {}, "'parameters'")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInput(f"'inputs' must be a non-empty list, got {raw_inputs!r:.80}")
    reader = BinaryReader(remainder)
    inputs: dict[str, np.ndarray] = {}
    datatypes: dict[str, str] = {}
    for i, raw in enumerate(raw_inputs):
        raw = _object(raw, f"inputs[{i}]")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"inputs[{i}]: 'name' must be a non-empty string, got {name!r}")
        if name in inputs:
            raise InvalidInput(f"input {name!r} appears more than once")
        shape = check_shape(name, raw.get("shape"))
        datatype = check_datatype(name, raw.get("datatype"))
        params = _object(raw.get("parameters") or {}, f"input {name!r} 'parameters'")
        if "binary_data_size" in params:
            if "data" in raw:
                raise InvalidInput(f"input {name!r}: has both 'data' and binary_data_size")
            chunk = reader.take(name, params["binary_data_size"])
            inputs[name] = decode_binary_tensor(name, datatype, shape, chunk)
        elif "data" in raw:
            inputs[name] = decode_json_data(name, datatype, shape, raw["data"])
        else:
            raise InvalidInput(f"input {name!r}: needs 'data' or a binary_data_size parameter")
        datatypes[name] = datatype
    reader.finish()
    outputs = None
    if doc.get("outputs") is not None:
        if not isinstance(doc["outputs"], list):
            raise InvalidInput(f"'outputs' must be a list, got {type(doc['outputs']).__name__}")
        outputs = []
        for j, raw in enumerate(doc["outputs"]):
            raw = _object(raw, f"outputs[{j}]")
            if not isinstance(raw.get("name"), str):
                raise InvalidInput(f"outputs[{j}]: 'name' must be a string, got {raw.get('name')!r}")
            params = _object(raw.get("parameters") or {}, f"output {raw['name']!r} 'parameters'")
            binary = params.get("binary_data", parameters.get("binary_data_output", False))
            outputs.append(RequestedOutput(raw["name"], bool(binary)))
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput(f"'id' must be a string, got {type(request_id).__name__}")
    return InferenceRequest(
        id=request_id,
        parameters=parameters,
        inputs=inputs,
        outputs=outputs,
        binary_default=bool(parameters.get("binary_data_output", False)),
        datatypes=datatypes,
    )


def build_response(
    model_name: str,
    model_version: str,
    request: InferenceRequest,
    results: dict[str, np.ndarray],
    datatypes: dict[str, str],
) -> tuple[bytes, int | None]:
    """Return (body, header length or None when the body is plain JSON)."""
    wanted = request.outputs or [RequestedOutput(n, request.binary_default) for n in results]
    outputs: list[dict[str, Any]] = []
    buffers: list[bytes | memoryview] = []
    for out in wanted:
        array = results[out.name]
        entry: dict[str, Any] = {"name": out.name, "datatype": datatypes[out.name], "shape": list(array.shape)}
        if out.binary:
            raw = binary_view(array)
            entry["parameters"] = {"binary_data_size": len(raw)}
            buffers.append(raw)
        else:
            entry["data"] = encode_json_data(array)
        outputs.append(entry)
    doc = {"model_name": model_name, "model_version": model_version, "outputs": outputs}
    if request.id is not None:
        doc["id"] = request.id
    header = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not buffers:
        return header, None
    return b"".join([header, *buffers]), len(header)


__all__ = ["HEADER", "InferenceRequest", "RequestedOutput", "build_response", "json_depth", "parse_request"]
