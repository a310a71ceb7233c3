"""Request builders, one per payload mode, and the binary-response parser.

Bodies are encoded once, before a step starts, and replayed: the client's CPU
goes to sending, not to re-serialising the same tensors. The protocol code here
is written independently of service/protocol on purpose, so the load test
checks the server against the spec rather than against itself.

Modes (add one by adding a function to BUILDERS):
- json:     OIP /infer with JSON tensors;
- binary:   OIP /infer with the binary tensor extension, outputs asked back binary;
- friendly: /predict with a PNG upload (images), {"text": [...]} (text) or
            {"frames": [[...]]} (sequences).
"""

from __future__ import annotations

import io
import json
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HEADER = "Inference-Header-Content-Length"
_LEN = struct.Struct("<I")

# KServe v2 datatype -> numpy dtype (little-endian, as the binary extension requires)
_NUMPY = {
    name: np.dtype(code)
    for name, code in (
        ("BOOL", "?"), ("UINT8", "<u1"), ("UINT16", "<u2"), ("UINT32", "<u4"), ("UINT64", "<u8"),
        ("INT8", "<i1"), ("INT16", "<i2"), ("INT32", "<i4"), ("INT64", "<i8"),
        ("FP16", "<f2"), ("FP32", "<f4"), ("FP64", "<f8"),
    )
}
_DATATYPES = {(dt.kind, dt.itemsize): name for name, dt in _NUMPY.items()}


@dataclass(frozen=True)
class RequestSpec:
    """One ready-to-send HTTP request (path relative to the base URL)."""

    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    items: int = 1  # batch rows it carries: throughput in items/s counts these
    method: str = "POST"


def datatype_of(array: np.ndarray) -> str:
    if array.dtype.kind in ("O", "S", "U"):
        return "BYTES"
    return _DATATYPES[(array.dtype.kind, array.dtype.itemsize)]


def numpy_dtype(datatype: str) -> np.dtype:
    return np.dtype(object) if datatype == "BYTES" else _NUMPY[datatype]


def model_path(model: str, version: str | None, action: str) -> str:
    version_part = f"/versions/{version}" if version else ""
    return f"/v2/models/{model}{version_part}/{action}"


def encode_tensor(array: np.ndarray) -> bytes:
    """Raw little-endian bytes; BYTES elements get a 4-byte length prefix each."""
    if datatype_of(array) == "BYTES":
        parts = []
        for value in array.reshape(-1):
            raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts += [_LEN.pack(len(raw)), raw]
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _json_data(array: np.ndarray) -> list:
    flat = array.reshape(-1)
    if datatype_of(array) == "BYTES":
        return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in flat]
    return flat.tolist()


def build_json(model: str, version: str | None, inputs: dict[str, np.ndarray], outputs: Sequence[str], **_) -> RequestSpec:
    doc = {
        "inputs": [
            {"name": n, "shape": list(a.shape), "datatype": datatype_of(a), "data": _json_data(a)}
            for n, a in inputs.items()
        ],
        "outputs": [{"name": o} for o in outputs],
    }
    body = json.dumps(doc, separators=(",", ":")).encode()
    return RequestSpec(model_path(model, version, "infer"), body, {"content-type": "application/json"}, _rows(inputs))


def build_binary(model: str, version: str | None, inputs: dict[str, np.ndarray], outputs: Sequence[str], **_) -> RequestSpec:
    raws = [encode_tensor(a) for a in inputs.values()]
    doc = {
        "inputs": [
            {"name": n, "shape": list(a.shape), "datatype": datatype_of(a), "parameters": {"binary_data_size": len(r)}}
            for (n, a), r in zip(inputs.items(), raws)
        ],
        "outputs": [{"name": o, "parameters": {"binary_data": True}} for o in outputs],
        "parameters": {"binary_data_output": True},
    }
    header = json.dumps(doc, separators=(",", ":")).encode()
    headers = {"content-type": "application/octet-stream", HEADER: str(len(header))}
    return RequestSpec(model_path(model, version, "infer"), header + b"".join(raws), headers, _rows(inputs))


def build_friendly(model: str, version: str | None, items: list[Any], kind: str, **_) -> RequestSpec:
    """Friendly /predict: the body shape depends on what kind of data the model takes."""
    path = model_path(model, version, "predict")
    if kind == "image":
        if len(items) != 1:
            raise ValueError(f"friendly image mode uploads one PNG per request, got batch size {len(items)}")
        body, content_type = multipart_file("file", "sample.png", png_bytes(items[0]), "image/png")
        return RequestSpec(path, body, {"content-type": content_type}, 1)
    if kind == "text":
        doc: dict[str, Any] = {"text": [str(t) for t in items]}
    elif kind == "sequence":
        if len(items) != 1:
            raise ValueError(f"friendly sequence mode sends one sequence per request, got batch size {len(items)}")
        doc = {"frames": np.asarray(items[0], dtype=np.float32).tolist()}
    else:
        raise ValueError(f"friendly mode needs image, text or sequence data, not {kind!r}")
    body = json.dumps(doc, separators=(",", ":")).encode()
    return RequestSpec(path, body, {"content-type": "application/json"}, len(items))


Builder = Callable[..., RequestSpec]
BUILDERS: dict[str, Builder] = {"json": build_json, "binary": build_binary, "friendly": build_friendly}
MODES: tuple[str, ...] = tuple(BUILDERS)


def _rows(inputs: dict[str, np.ndarray]) -> int:
    first = next(iter(inputs.values()))
    return int(first.shape[0]) if first.ndim else 1


def png_bytes(item: Any) -> bytes:
    """PNG bytes of an image item: already-encoded bytes pass through; a [0, 1]
    float array ([H, W] or [1, H, W]) becomes an 8-bit grayscale PNG."""
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    from PIL import Image

    pixels = np.asarray(item, dtype=np.float64).squeeze()
    if pixels.ndim != 2:
        raise ValueError(f"expected a grayscale image, got shape {np.shape(item)}")
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def multipart_file(field_name: str, filename: str, content: bytes, content_type: str) -> tuple[bytes, str]:
    """A multipart/form-data body with one file part, and its Content-Type header."""
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field_name}\"; filename=\"{filename}\"\r\n"
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def parse_infer_response(body: bytes, header_length: str | None) -> dict[str, np.ndarray]:
    """Decode an OIP response, JSON or binary, into {output name: array}."""
    size = len(body) if header_length is None else int(header_length)
    doc = json.loads(body[:size])
    offset, outputs = size, {}
    for out in doc["outputs"]:
        dtype, shape = numpy_dtype(out["datatype"]), out["shape"]
        nbytes = (out.get("parameters") or {}).get("binary_data_size")
        if nbytes is None:
            outputs[out["name"]] = np.asarray(out["data"], dtype=dtype).reshape(shape)
            continue
        chunk = body[offset : offset + nbytes]
        offset += nbytes
        if out["datatype"] == "BYTES":
            values, pos = [], 0
            while pos < len(chunk):
                (n,) = _LEN.unpack_from(chunk, pos)
                values.append(chunk[pos + 4 : pos + 4 + n])
                pos += 4 + n
            outputs[out["name"]] = np.array(values, dtype=object).reshape(shape)
        else:
            outputs[out["name"]] = np.frombuffer(chunk, dtype=dtype).reshape(shape)
    return outputs
