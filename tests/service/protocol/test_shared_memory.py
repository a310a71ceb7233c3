"""Tensors in shared-memory regions (protocol/shared_memory.py), as the HTTP decoder and encoder use them."""

from __future__ import annotations

import uuid

import numpy as np
import orjson
import pytest

from service.core.errors import InvalidInput
from service.core.shared_memory import SHM_DIR, SharedMemoryRegistry
from service.protocol.inference import build_response, parse_request
from service.protocol.shared_memory import read_input


@pytest.fixture
def region():
    """A registered 4 KiB region 'r' over a fresh object; yields (registry, object path)."""
    path = SHM_DIR / f"ortserve-test-{uuid.uuid4().hex}"
    path.write_bytes(bytes(4096))
    registry = SharedMemoryRegistry(True)
    registry.register("r", "/" + path.name, 0, 4096)
    yield registry, path
    registry.close()
    path.unlink(missing_ok=True)


def put(path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def test_an_input_is_read_from_its_region_without_a_copy(region):
    registry, path = region
    x = np.arange(8, dtype=np.float32)
    put(path, 64, x.tobytes())
    array = read_input(registry, "x", "FP32", [2, 4], {"shared_memory_region": "r", "shared_memory_byte_size": 32,
                                                     "shared_memory_offset": 64})
    np.testing.assert_array_equal(array, x.reshape(2, 4))
    assert not array.flags.owndata  # a view of the mapping
    put(path, 64, np.float32(7).tobytes())
    assert array[0, 0] == 7.0


def test_an_unaligned_input_is_copied_for_onnx_runtime(region):
    registry, path = region
    put(path, 3, np.arange(4, dtype=np.float32).tobytes())
    array = read_input(registry, "x", "FP32", [4], {"shared_memory_region": "r", "shared_memory_byte_size": 16,
                                                  "shared_memory_offset": 3})
    assert array.flags.aligned and array.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_a_byte_size_that_does_not_fit_the_shape_is_named(region):
    registry, _ = region
    with pytest.raises(InvalidInput) as info:
        read_input(registry, "x", "FP32", [2, 4], {"shared_memory_region": "r", "shared_memory_byte_size": 16})
    assert info.value.message == "input 'x': shape [2, 4] of FP32 needs 32 bytes, but shared_memory_byte_size is 16"
    with pytest.raises(InvalidInput, match=r"^input 'x': shared_memory_region needs a shared_memory_byte_size parameter$"):
        read_input(registry, "x", "FP32", [2, 4], {"shared_memory_region": "r"})
    with pytest.raises(InvalidInput, match=r"^input 'x': system shared memory is disabled on this server"):
        read_input(None, "x", "FP32", [2, 4], {"shared_memory_region": "r", "shared_memory_byte_size": 32})


def test_bytes_elements_are_read_with_their_length_prefixes(region):
    registry, path = region
    put(path, 0, b"\x02\x00\x00\x00hi\x01\x00\x00\x00!")
    array = read_input(registry, "t", "BYTES", [2], {"shared_memory_region": "r", "shared_memory_byte_size": 11})
    assert array.tolist() == [b"hi", b"!"]


def test_a_request_through_regions_both_ways(region):
    registry, path = region
    put(path, 0, np.array([[1, 2, 3, 4]], np.float32).tobytes())
    body = orjson.dumps({
        "id": "7",
        "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                    "parameters": {"shared_memory_region": "r", "shared_memory_byte_size": 16}}],
        "outputs": [{"name": "y", "parameters": {"shared_memory_region": "r", "shared_memory_byte_size": 64,
                                                 "shared_memory_offset": 1024}}],
    })
    wire = parse_request(body, None, "m", None, regions=registry)
    assert wire.request.inputs["x"].tolist() == [[1, 2, 3, 4]]
    y = np.array([[8.0, 9.0]], np.float32)
    payload, length = build_response("1", wire, {"y": y}, {"y": "FP32"})
    assert length is None  # nothing travels in the answer but its description, as Triton's
    assert orjson.loads(payload) == {"model_name": "m", "model_version": "1", "id": "7",
                                     "outputs": [{"name": "y", "datatype": "FP32", "shape": [1, 2]}]}
    assert path.read_bytes()[1024:1032] == y.tobytes()


def test_an_output_region_is_checked_before_the_model_runs(region):
    registry, _ = region
    body = orjson.dumps({
        "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
        "outputs": [{"name": "y", "parameters": {"shared_memory_region": "r", "shared_memory_byte_size": 64,
                                                 "shared_memory_offset": 4090}}],
    })
    with pytest.raises(InvalidInput) as info:
        parse_request(body, None, "m", None, regions=registry)
    assert info.value.message == ("output 'y': shared_memory_offset 4090 + shared_memory_byte_size 64 runs past "
                                  "the end of region 'r' (4096 bytes)")


def test_a_tensor_with_a_region_and_data_is_refused(region):
    registry, _ = region
    body = orjson.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1], "parameters": {
        "shared_memory_region": "r", "shared_memory_byte_size": 4}}]})
    with pytest.raises(InvalidInput, match=r"^input 'x': has a shared_memory_region and also carries data$"):
        parse_request(body, None, "m", None, regions=registry)
