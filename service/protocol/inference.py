"""Parsing an OIP inference request body into the core's typed request, and building its answer.

Pure bytes in, bytes out: the HTTP layer only moves headers and bodies. Everything
about the request's form is checked here, once (names, shapes, datatypes, the
binary layout, parameters); what depends on the model is checked by the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ..core.errors import InvalidInput, PayloadTooLarge
from ..core.request import FloatChecks, InferRequest, triton_timeout
from ..core.shared_memory import SharedMemoryRegistry, Slice
from .binary import HEADER, BinaryReader, binary_view, decode_binary_tensor, split_body
from .json_tensors import check_datatype, check_shape, decode_json_data, encode_json_data
from .shared_memory import in_region, output_slice, read_input, write_output


@dataclass(slots=True)
class RequestedOutput:
    name: str
    binary: bool
    region: Slice | None = None  # written into a shared-memory region instead of the answer


@dataclass(slots=True)
class WireRequest:
    """What a front door decoded: the core's request, and how its answer is to be encoded."""

    request: InferRequest
    outputs: list[RequestedOutput] | None  # in the order asked for, each with its encoding; None: all
    binary_default: bool  # the encoding of outputs not asked for by name (gRPC: raw contents)


def requested_outputs(outputs: list[RequestedOutput] | None) -> frozenset[str] | None:
    return None if outputs is None else frozenset(o.name for o in outputs)


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


def _inputs(raw_inputs: Any, reader: BinaryReader, regions: SharedMemoryRegistry | None) -> dict[str, np.ndarray]:
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInput(f"'inputs' must be a non-empty list, got {raw_inputs!r:.80}")
    inputs: dict[str, np.ndarray] = {}
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
        if in_region(params):
            if "data" in raw or "binary_data_size" in params:
                raise InvalidInput(f"input {name!r}: has a shared_memory_region and also carries data")
            inputs[name] = read_input(regions, name, datatype, shape, params)
        elif "binary_data_size" in params:
            if "data" in raw:
                raise InvalidInput(f"input {name!r}: has both 'data' and binary_data_size")
            inputs[name] = decode_binary_tensor(name, datatype, shape, reader.take(name, params["binary_data_size"]))
        elif "data" in raw:
            inputs[name] = decode_json_data(name, datatype, shape, raw["data"])
        else:
            raise InvalidInput(f"input {name!r}: needs 'data' or a binary_data_size parameter")
    reader.finish()
    return inputs


def _outputs(
    raw_outputs: Any, binary_default: bool, regions: SharedMemoryRegistry | None
) -> list[RequestedOutput] | None:
    if raw_outputs is None:
        return None
    if not isinstance(raw_outputs, list):
        raise InvalidInput(f"'outputs' must be a list, got {type(raw_outputs).__name__}")
    outputs = []
    for j, raw in enumerate(raw_outputs):
        raw = _object(raw, f"outputs[{j}]")
        if not isinstance(raw.get("name"), str):
            raise InvalidInput(f"outputs[{j}]: 'name' must be a string, got {raw.get('name')!r}")
        params = _object(raw.get("parameters") or {}, f"output {raw['name']!r} 'parameters'")
        binary = bool(params.get("binary_data", binary_default))
        outputs.append(RequestedOutput(raw["name"], binary, output_slice(regions, raw["name"], params)))
    return outputs


def parse_request(
    body: bytes, header_length: str | None, model: str, version: str | None, *, max_depth: int = 32,
    regions: SharedMemoryRegistry | None = None,
) -> WireRequest:
    """An OIP request body (JSON, or the binary extension's JSON header and tensors) -> WireRequest.

    Float values are Triton's (FloatChecks.TRITON), `timeout` is in microseconds, as in Triton;
    tensors may lie in the shared-memory `regions`."""
    header, remainder = split_body(body, header_length)
    try:
        doc = _object(orjson.loads(header), "request body")
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None
    if header.count(b"[") + header.count(b"{") > max_depth:  # fewer brackets cannot nest deeper: skip the walk
        json_depth(doc, max_depth)
    parameters = _object(doc.get("parameters") or {}, "'parameters'")
    inputs = _inputs(doc.get("inputs"), BinaryReader(remainder), regions)
    binary_default = bool(parameters.get("binary_data_output", False))
    outputs = _outputs(doc.get("outputs"), binary_default, regions)
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput(f"'id' must be a string, got {type(request_id).__name__}")
    request = InferRequest(
        model, version, inputs, requested_outputs(outputs), triton_timeout(parameters.get("timeout")), request_id,
        floats=FloatChecks.TRITON,
    )
    return WireRequest(request, outputs, binary_default)


def build_response(
    model_version: str, wire: WireRequest, results: dict[str, np.ndarray], datatypes: dict[str, str]
) -> tuple[bytes, int | None]:
    """Return (body, header length or None when the body is plain JSON)."""
    wanted = wire.outputs or [RequestedOutput(n, wire.binary_default) for n in results]
    outputs: list[dict[str, Any]] = []
    buffers: list[bytes | memoryview] = []
    for out in wanted:
        array = results[out.name]
        entry: dict[str, Any] = {"name": out.name, "datatype": datatypes[out.name], "shape": list(array.shape)}
        if out.region is not None:
            write_output(out.region, out.name, array)
        elif out.binary:
            raw = binary_view(array)
            entry["parameters"] = {"binary_data_size": len(raw)}
            buffers.append(raw)
        else:
            entry["data"] = encode_json_data(array)
        outputs.append(entry)
    doc: dict[str, Any] = {"model_name": wire.request.model, "model_version": model_version, "outputs": outputs}
    if wire.request.id is not None:
        doc["id"] = wire.request.id
    header = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not buffers:
        return header, None
    return b"".join([header, *buffers]), len(header)


__all__ = ["HEADER", "RequestedOutput", "WireRequest", "build_response", "json_depth", "parse_request"]
