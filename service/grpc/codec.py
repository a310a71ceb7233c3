"""ModelInferRequest -> numpy inputs, and outputs -> ModelInferResponse.

Tensors travel either in `raw_input_contents` (little-endian bytes, BYTES elements
with a 4-byte length prefix: the layout of HTTP's binary extension, decoded by the
same functions) or typed in `contents`. Answers use the form the request used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.datatypes import numpy_dtype
from ..core.errors import InvalidInput
from ..protocol.binary import decode_binary_tensor, encode_binary_tensor
from ..protocol.inference import InferenceRequest, RequestedOutput
from ..protocol.json_tensors import check_datatype, check_shape
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


@dataclass
class DecodedRequest:
    request: InferenceRequest
    raw: bool  # answer in raw_output_contents (the request used raw_input_contents)

    @property
    def requested(self) -> list[str] | None:
        outputs = self.request.outputs
        return None if outputs is None else [o.name for o in outputs]


def parameter_value(param: Any) -> Any:
    """The Python value of an InferParameter / ModelRepositoryParameter (its one set field)."""
    which = param.WhichOneof("parameter_choice")
    return None if which is None else getattr(param, which)


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


def decode_request(message: pb.ModelInferRequest) -> DecodedRequest:
    """Check and decode every input, with the same words as the HTTP decoder."""
    if not message.inputs:
        raise InvalidInput("'inputs' must be a non-empty list, got []")
    raw = message.raw_input_contents
    if raw and len(raw) != len(message.inputs):
        raise InvalidInput(
            f"raw_input_contents has {len(raw)} entries but the request has {len(message.inputs)} inputs; "
            "send every input raw or none"
        )
    inputs: dict[str, np.ndarray] = {}
    datatypes: dict[str, str] = {}
    for i, tensor in enumerate(message.inputs):
        name = tensor.name
        if not name:
            raise InvalidInput(f"inputs[{i}]: 'name' must be a non-empty string, got ''")
        if name in inputs:
            raise InvalidInput(f"input {name!r} appears more than once")
        shape = check_shape(name, list(tensor.shape))
        datatype = check_datatype(name, tensor.datatype)
        if raw:
            if tensor.HasField("contents"):
                raise InvalidInput(f"input {name!r}: has both typed 'contents' and raw_input_contents")
            inputs[name] = decode_binary_tensor(name, datatype, shape, memoryview(raw[i]))
        else:
            inputs[name] = _typed(name, datatype, shape, tensor.contents)
        datatypes[name] = datatype
    parameters = {key: parameter_value(value) for key, value in message.parameters.items()}
    outputs = [RequestedOutput(o.name, bool(raw)) for o in message.outputs] or None
    request = InferenceRequest(
        id=message.id or None, parameters=parameters, inputs=inputs, outputs=outputs,
        binary_default=bool(raw), datatypes=datatypes,
    )
    return DecodedRequest(request, raw=bool(raw))


def encode_response(
    decoded: DecodedRequest, model_name: str, model_version: str,
    results: dict[str, np.ndarray], datatypes: dict[str, str],
) -> pb.ModelInferResponse:
    names = decoded.requested or list(results)
    # FP16/BF16 have no typed field: if any output needs raw, every output goes raw
    # (raw_output_contents lines up with `outputs` one to one).
    raw = decoded.raw or any(datatypes[n] not in _CONTENTS for n in names)
    response = pb.ModelInferResponse(model_name=model_name, model_version=model_version, id=decoded.request.id or "")
    for name in names:
        array = results[name]
        tensor = response.outputs.add(name=name, datatype=datatypes[name], shape=list(array.shape))
        if raw:
            response.raw_output_contents.append(encode_binary_tensor(array))
        elif datatypes[name] == "BYTES":
            tensor.contents.bytes_contents.extend(
                v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.reshape(-1)
            )
        else:
            getattr(tensor.contents, _CONTENTS[datatypes[name]][0]).extend(array.reshape(-1).tolist())
    return response
