"""The shared-memory registry (core/shared_memory.py): keys, bounds, mapping and unmapping, on real /dev/shm objects."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from service.core.errors import Forbidden, InvalidInput, NotFound, status_code_for
from service.core.shared_memory import DISABLED, SHM_DIR, SharedMemoryRegistry, shm_name


@pytest.fixture
def shm():
    """make(size, data=b"") -> key: POSIX shm objects in /dev/shm, removed afterwards."""
    made: list[Path] = []

    def make(size: int, data: bytes = b"") -> str:
        name = f"ortserve-test-{uuid.uuid4().hex}"
        path = SHM_DIR / name
        with open(path, "wb") as f:
            f.truncate(size)
            f.write(data)
        made.append(path)
        return "/" + name

    yield make
    for path in made:
        path.unlink(missing_ok=True)


def mapped(key: str) -> bool:
    """Whether this process maps the object (its /dev/shm path in /proc/self/maps)."""
    return str(SHM_DIR / key.lstrip("/")) in Path("/proc/self/maps").read_text()


def test_off_by_default_every_call_says_how_to_turn_it_on(shm):
    registry = SharedMemoryRegistry(enabled=False)
    for call in (lambda: registry.register("r", shm(8), 0, 8), registry.status, registry.unregister):
        with pytest.raises(Forbidden) as info:
            call()
        assert info.value.message == DISABLED and status_code_for(info.value) == 403
    with pytest.raises(InvalidInput, match="^input 'x': system shared memory is disabled on this server"):
        registry.slice("input 'x'", "r", 8)


@pytest.mark.parametrize("key", ["", "/", "/a/b", "a/../b", "/..", "..", ".", "/.", "x" * 256, "/a\0b"])
def test_a_key_must_name_one_object_in_dev_shm(key):
    with pytest.raises(InvalidInput, match=r"does not name a POSIX shared-memory object: expected '/name'"):
        shm_name(key)


def test_a_key_that_is_not_text_is_refused():
    with pytest.raises(InvalidInput, match=r"^'key' must be a string naming a POSIX shared-memory object, got 5$"):
        shm_name(5)
    assert shm_name("/abc") == "abc" and shm_name("abc") == "abc"


def test_a_symlink_in_dev_shm_never_leads_out_of_it(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"s" * 64)
    link = SHM_DIR / f"ortserve-test-{uuid.uuid4().hex}"
    link.symlink_to(secret)
    try:
        with pytest.raises(InvalidInput, match=r"cannot be opened: Too many levels of symbolic links$"):
            SharedMemoryRegistry(True).register("r", "/" + link.name, 0, 8)
    finally:
        link.unlink()


def test_only_a_regular_object_is_mapped():
    fifo = SHM_DIR / f"ortserve-test-{uuid.uuid4().hex}"
    os.mkfifo(fifo)
    try:  # opening a FIFO must not block, and it is not memory
        with pytest.raises(InvalidInput, match=rf"^region 'r': '/{fifo.name}' is not a shared-memory object$"):
            SharedMemoryRegistry(True).register("r", "/" + fifo.name, 0, 8)
    finally:
        fifo.unlink()


def test_a_missing_object_and_bad_sizes_are_named(shm):
    registry = SharedMemoryRegistry(True)
    with pytest.raises(InvalidInput, match=r"^region 'r': shared-memory object '/nope-\w+' cannot be opened: No such file"):
        registry.register("r", f"/nope-{uuid.uuid4().hex}", 0, 8)
    key = shm(16)
    with pytest.raises(InvalidInput, match=rf"^region 'r': object '{key}' is 16 bytes, smaller than offset 8 \+ byte_size 16$"):
        registry.register("r", key, 8, 16)
    with pytest.raises(InvalidInput, match=r"^region 'r': 'byte_size' must be a non-negative integer, got -1$"):
        registry.register("r", key, 0, -1)
    with pytest.raises(InvalidInput, match=r"^region 'r': 'byte_size' must be positive, got 0$"):
        registry.register("r", key, 0, 0)
    with pytest.raises(InvalidInput, match=r"^a region's name must be non-empty and without '/', got 'a/b'$"):
        registry.register("a/b", key, 0, 8)
    registry.register("r", key, 0, 16)
    with pytest.raises(InvalidInput, match=r"^region 'r' is already registered; unregister it first$"):
        registry.register("r", key, 0, 16)


def test_status_lists_regions_and_an_unknown_one_is_404(shm):
    registry = SharedMemoryRegistry(True)
    key = shm(64)
    registry.register("in", key, 16, 32)
    assert registry.status() == [{"name": "in", "key": key, "offset": 16, "byte_size": 32}]
    assert registry.status("in") == registry.status()
    with pytest.raises(NotFound, match=r"^no shared-memory region 'out' is registered$"):
        registry.status("out")


def test_a_slice_reads_and_writes_inside_its_region_only(shm):
    registry = SharedMemoryRegistry(True)
    key = shm(64, bytes(range(64)))
    registry.register("r", key, 16, 32)  # bytes 16..47 of the object
    assert bytes(registry.slice("input 'x'", "r", 8, 4).read("input 'x'")) == bytes(range(20, 28))
    with pytest.raises(InvalidInput) as info:
        registry.slice("input 'x'", "r", 8, 28)
    assert info.value.message == (
        "input 'x': shared_memory_offset 28 + shared_memory_byte_size 8 runs past the end of region 'r' (32 bytes)")
    out = registry.slice("output 'y'", "r", 4)
    assert out.write(b"\xff\xfe", "output 'y'") == 2
    assert (SHM_DIR / key[1:]).read_bytes()[16:20] == b"\xff\xfe" + bytes([18, 19])
    with pytest.raises(InvalidInput, match=r"^output 'y': the output is 5 bytes, more than shared_memory_byte_size 4 "):
        out.write(b"12345", "output 'y'")
    for bad in (-1, 1.5, True, "0"):
        with pytest.raises(InvalidInput, match=r"^input 'x': shared_memory_offset must be a non-negative integer"):
            registry.slice("input 'x'", "r", 4, bad)
    with pytest.raises(InvalidInput, match=r"^input 'x': shared_memory_region 'q' is not registered$"):
        registry.slice("input 'x'", "q", 4)


def test_an_object_shrunk_after_registration_is_a_400_not_a_crash(shm):
    registry = SharedMemoryRegistry(True)
    key = shm(8192)
    registry.register("r", key, 0, 8192)
    os.truncate(SHM_DIR / key[1:], 100)  # reading the mapping past 100 bytes now would be SIGBUS
    with pytest.raises(InvalidInput, match=rf"^input 'x': region 'r': object '{key}' shrank to 100 bytes, below the "):
        registry.slice("input 'x'", "r", 4096, 4096).read("input 'x'")


def test_unregister_unmaps_and_a_view_in_use_is_unmapped_when_released(shm):
    registry = SharedMemoryRegistry(True)
    first, second = shm(4096), shm(4096)
    registry.register("a", first, 0, 4096)
    registry.register("b", second, 0, 4096)
    assert mapped(first) and mapped(second)
    view = registry.slice("input 'x'", "b", 16).read("input 'x'")  # a request still reading region b
    registry.unregister("a")
    registry.unregister("nope")  # an unknown name is no error, as in Triton
    assert not mapped(first) and registry.status() == [{"name": "b", "key": second, "offset": 0, "byte_size": 4096}]
    registry.unregister()
    assert registry.status() == [] and mapped(second)
    view.release()
    assert not mapped(second)


def test_close_unmaps_every_region(shm):
    registry = SharedMemoryRegistry(True)
    keys = [shm(4096) for _ in range(3)]
    for i, key in enumerate(keys):
        registry.register(f"r{i}", key, 0, 4096)
    registry.close()
    assert registry.regions == {} and not any(mapped(k) for k in keys)
