"""ModelInferRequest -> numpy inputs, and outputs -> ModelInferResponse.

Tensors travel either in `raw_input_contents` (little-endian bytes, BYTES elements
with a 4-byte length prefix: the layout of HTTP's binary extension, decoded by the
same functions) or typed in `contents`, or lie in a registered shared-memory region
(the `shared_memory_*` parameters). Answers use the form the request used.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core.datatypes import numpy_dtype
from ..core.errors import InvalidInput
from ..core.request import Deadline, FloatChecks, InferRequest, triton_timeout
from ..core.shared_memory import SharedMemoryRegistry
from ..protocol.binary import decode_binary_tensor, encode_binary_tensor
from ..protocol.inference import RequestedOutput, WireRequest, requested_outputs
from ..protocol.json_tensors import check_datatype, check_shape
from ..protocol.shared_memory import in_region, output_slice, read_input, write_output
from ._generated import grpc_service_pb2 as pb

# Which typed field carries each datatype, and the numpy type the protobuf field holds.
_CONTENTS: dict[str, tuple[str, str]] = {
    "BOOL": ("bool_contents", "bool"),
    "INT8": ("int_contents", "<i4"),
    "INT16": ("int_contents", "<i4"),
    "INT32": ("int_contents", "<i4"),
    "INT64": ("int64_contents", "<i8"),
    "UINT8": ("uint_contents", "<u4"),
    "UINT16": ("uint_contents", "<u4"),
    "UINT32": ("uint_contents", "<u4"),
    "UINT64": ("uint64_contents", "<u8"),
    "FP32": ("fp32_contents", "<f4"),
    "FP64": ("fp64_contents", "<f8"),
    "BYTES": ("bytes_contents", "object"),
}


def parameter_value(param: Any) -> Any:
    """The Python value of an InferParameter / ModelRepositoryParameter (its one set field)."""
    which = param.WhichOneof("parameter_choice")
    return None if which is None else getattr(param, which)


def _parameters(params: Any) -> dict[str, Any]:
    """A protobuf parameter map as plain values; read only when it has entries."""
    return {key: parameter_value(value) for key, value in params.items()} if params else {}


def _typed(name: str, datatype: str, shape: list[int], contents: pb.InferTensorContents) -> np.ndarray:
    if datatype not in _CONTENTS:
        raise InvalidInput(f"input {name!r}: {datatype} has no typed contents field; send it in raw_input_contents")
    field, held = _CONTENTS[datatype]
    values = getattr(contents, field)
    count = math.prod(shape)
    if len(values) != count:
        raise InvalidInput(f"input {name!r}: shape {shape} needs {count} values in '{field}', got {len(values)}")
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    array = np.array(values, dtype=held)
    target = numpy_dtype(datatype)
    if target != array.dtype and array.size:
        info = np.iinfo(target)
        if array.min() < info.min or array.max() > info.max:
            raise InvalidInput(f"input {name!r}: values overflow {datatype}")
    return array.astype(target, copy=False).reshape(shape)


def decode_request(
    message: pb.ModelInferRequest, time_remaining: float | None = None, regions: SharedMemoryRegistry | None = None,
) -> WireRequest:
    """Check and decode every input, with the same words as the HTTP decoder. The deadline is
    the earlier of the `timeout` parameter (microseconds, as in Triton) and the call's own
    (`time_remaining`, seconds)."""
    if not message.inputs:
        raise InvalidInput("'inputs' must be a non-empty list, got []")
    raw = message.raw_input_contents
    params = [_parameters(tensor.parameters) for tensor in message.inputs]
    carried = sum(1 for p in params if not in_region(p))  # inputs in a region have no raw entry
    if raw and len(raw) != carried:
        raise InvalidInput(
            f"raw_input_contents has {len(raw)} entries but the request has {carried} inputs that carry data; "
            "send every input raw or none"
        )
    inputs: dict[str, np.ndarray] = {}
    next_raw = 0
    for i, tensor in enumerate(message.inputs):
        name = tensor.name
        if not name:
            raise InvalidInput(f"inputs[{i}]: 'name' must be a non-empty string, got ''")
        if name in inputs:
            raise InvalidInput(f"input {name!r} appears more than once")
        shape = check_shape(name, list(tensor.shape))
        datatype = check_datatype(name, tensor.datatype)
        if in_region(params[i]):
            if tensor.HasField("contents"):
                raise InvalidInput(f"input {name!r}: has a shared_memory_region and also carries data")
            inputs[name] = read_input(regions, name, datatype, shape, params[i])
        elif raw:
            if tensor.HasField("contents"):
                raise InvalidInput(f"input {name!r}: has both typed 'contents' and raw_input_contents")
            inputs[name] = decode_binary_tensor(name, datatype, shape, memoryview(raw[next_raw]))
            next_raw += 1
        else:
            inputs[name] = _typed(name, datatype, shape, tensor.contents)
    timeout_param = message.parameters.get("timeout")
    deadline = None if timeout_param is None else triton_timeout(parameter_value(timeout_param))
    if time_remaining is not None:
        deadline = Deadline.after(time_remaining) if deadline is None else deadline.earlier(time_remaining)
    # Raw answers unless every input came typed: inputs in regions say nothing either way.
    binary = bool(raw) or carried == 0
    outputs = [
        RequestedOutput(o.name, binary, output_slice(regions, o.name, _parameters(o.parameters)))
        for o in message.outputs
    ] or None
    request = InferRequest(
        message.model_name, message.model_version or None, inputs, requested_outputs(outputs), deadline,
        message.id or None, floats=FloatChecks.TRITON,
    )
    return WireRequest(request, outputs, binary_default=binary)


def encode_response(
    wire: WireRequest, model_version: str, results: dict[str, np.ndarray], datatypes: dict[str, str],
) -> pb.ModelInferResponse:
    wanted = wire.outputs or [RequestedOutput(n, wire.binary_default) for n in results]
    names = [o.name for o in wanted]
    # FP16/BF16 have no typed field: if any output needs raw, every output goes raw
    # (raw_output_contents lines up with `outputs` one to one).
    raw = wire.binary_default or any(datatypes[n] not in _CONTENTS for n in names)
    request = wire.request
    response = pb.ModelInferResponse(model_name=request.model, model_version=model_version, id=request.id or "")
    for out in wanted:
        name = out.name
        array = results[name]
        tensor = response.outputs.add(name=name, datatype=datatypes[name], shape=list(array.shape))
        if out.region is not None:
            write_output(out.region, name, array)
            if raw:  # Triton's layout: an empty entry keeps raw_output_contents aligned with `outputs`
                response.raw_output_contents.append(b"")
        elif raw:
            response.raw_output_contents.append(encode_binary_tensor(array))
        elif datatypes[name] == "BYTES":
            tensor.contents.bytes_contents.extend(
                v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.reshape(-1)
            )
        else:
            getattr(tensor.contents, _CONTENTS[datatypes[name]][0]).extend(array.reshape(-1).tolist())
    return response

