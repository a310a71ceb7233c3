"""Triton's system shared-memory extension: regions of POSIX shared memory a client registered.

A client puts a tensor in a POSIX shared-memory object (`shm_open`, which lives in
/dev/shm), registers a window of it as a named region, and then sends requests that
name the region instead of carrying the tensor; outputs can be written back the same
way. It saves the copies through the socket for large tensors on the same host.

It is a door into the host's memory, so: off unless the setting turns it on; a key
names one object directly in /dev/shm (no path, no symlink, a regular file only);
every offset and size is checked against the region before a byte is touched, and
the object's size again at each read (a client that shrinks it must get a 400, not
crash the server with SIGBUS); regions are unmapped on unregister and on shutdown.
No HTTP or gRPC here: the front doors translate.
"""

from __future__ import annotations

import logging
import mmap
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import Forbidden, InvalidInput, NotFound

log = logging.getLogger(__name__)
SHM_DIR = Path("/dev/shm")
DISABLED = "system shared memory is disabled on this server: start it with ORTSERVE_SYSTEM_SHARED_MEMORY=true"
CUDA_UNSUPPORTED = (
    "CUDA shared memory is not supported by this server; use system shared memory "
    "(ORTSERVE_SYSTEM_SHARED_MEMORY=true) or send the tensors in the request"
)
_MAX_KEY = 255  # NAME_MAX of the shm file system


def shm_name(key: object) -> str:
    """The object's file name in /dev/shm for a POSIX shm key ("/name" or "name"); refuse anything else."""
    if not isinstance(key, str):
        raise InvalidInput(f"'key' must be a string naming a POSIX shared-memory object, got {key!r}")
    name = key[1:] if key.startswith("/") else key
    if not name or len(name) > _MAX_KEY or "/" in name or "\0" in name or name in (".", ".."):
        raise InvalidInput(
            f"key {key!r} does not name a POSIX shared-memory object: expected '/name' "
            f"(one name of at most {_MAX_KEY} characters, no '/', not '.' or '..')"
        )
    return name


def _size(value: object, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{label} must be a non-negative integer, got {value!r}")
    return value


@dataclass
class Region:
    """`byte_size` bytes of the object `key`, from `offset`, mapped read-write."""

    name: str
    key: str
    offset: int
    byte_size: int
    _map: mmap.mmap = field(repr=False)

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "key": self.key, "offset": self.offset, "byte_size": self.byte_size}

    def window(self, offset: int, size: int, tensor: str) -> memoryview:
        """`size` bytes at `offset` inside the region, after every bound is checked."""
        if offset + size > self.byte_size:
            raise InvalidInput(
                f"{tensor}: shared_memory_offset {offset} + shared_memory_byte_size {size} runs past the end "
                f"of region {self.name!r} ({self.byte_size} bytes)"
            )
        if self._map.closed:
            raise InvalidInput(f"{tensor}: region {self.name!r} was unregistered while the request ran")
        end = self.offset + self.byte_size
        if self._map.size() < end:  # fstat: the object was truncated after it was registered
            raise InvalidInput(
                f"{tensor}: region {self.name!r}: object {self.key!r} shrank to {self._map.size()} bytes, "
                f"below the registered offset {self.offset} + byte_size {self.byte_size}"
            )
        start = self.offset + offset
        return memoryview(self._map)[start : start + size]

    def close(self) -> None:
        try:
            self._map.close()
        except BufferError:
            # A request still holds a view of it: the mapping goes when the last view does.
            log.info("shared-memory region still in use; unmapped when released", extra={"region": self.name})


@dataclass(frozen=True)
class Slice:
    """Where one tensor of one request lies: a region, an offset in it and a byte size."""

    region: Region
    offset: int
    byte_size: int

    def read(self, tensor: str) -> memoryview:
        return self.region.window(self.offset, self.byte_size, tensor)

    def write(self, data: bytes | memoryview, tensor: str) -> int:
        """Copy an output's bytes in; the number written."""
        if len(data) > self.byte_size:
            raise InvalidInput(
                f"{tensor}: the output is {len(data)} bytes, more than shared_memory_byte_size {self.byte_size} "
                f"in region {self.region.name!r}"
            )
        with self.region.window(self.offset, len(data), tensor) as target:
            target[:] = data
        return len(data)


class SharedMemoryRegistry:
    """The registered regions of one server process (each worker holds its own)."""

    def __init__(self, enabled: bool, directory: Path = SHM_DIR) -> None:
        self.enabled = enabled
        self.directory = directory
        self.regions: dict[str, Region] = {}

    def _check_enabled(self) -> None:
        if not self.enabled:
            raise Forbidden(DISABLED)

    def register(self, name: str, key: object, offset: object = 0, byte_size: object = None) -> Region:
        self._check_enabled()
        if not name or "/" in name:
            raise InvalidInput(f"a region's name must be non-empty and without '/', got {name!r}")
        if name in self.regions:
            raise InvalidInput(f"region {name!r} is already registered; unregister it first")
        file_name = shm_name(key)
        start, size = _size(offset, f"region {name!r}: 'offset'"), _size(byte_size, f"region {name!r}: 'byte_size'")
        if size == 0:
            raise InvalidInput(f"region {name!r}: 'byte_size' must be positive, got 0")
        try:
            directory = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise InvalidInput(f"region {name!r}: {self.directory} cannot be opened: {exc.strerror}") from None
        try:
            # NOFOLLOW: a symlink in /dev/shm never leads out of it; NONBLOCK: a FIFO never hangs the open.
            fd = os.open(file_name, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=directory)
        except OSError as exc:
            raise InvalidInput(f"region {name!r}: shared-memory object {key!r} cannot be opened: {exc.strerror}") from None
        finally:
            os.close(directory)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise InvalidInput(f"region {name!r}: {key!r} is not a shared-memory object")
            if info.st_size < start + size:
                raise InvalidInput(
                    f"region {name!r}: object {key!r} is {info.st_size} bytes, smaller than offset {start} "
                    f"+ byte_size {size}"
                )
            # Mapped from the object's start: mmap's own offset must be page-aligned, a region's need not be.
            region = Region(name, str(key), start, size, mmap.mmap(fd, start + size))
        finally:
            os.close(fd)
        self.regions[name] = region
        return region

    def unregister(self, name: str | None = None) -> None:
        """One region, or every region (None). An unknown name is not an error, as in Triton."""
        self._check_enabled()
        names = list(self.regions) if name is None else [name] if name in self.regions else []
        for region_name in names:
            self.regions.pop(region_name).close()

    def status(self, name: str | None = None) -> list[dict[str, Any]]:
        self._check_enabled()
        if name is None:
            return [region.status() for region in self.regions.values()]
        if name not in self.regions:
            raise NotFound(f"no shared-memory region {name!r} is registered")
        return [self.regions[name].status()]

    def slice(self, tensor: str, region: object, byte_size: object, offset: object = None) -> Slice:
        """A tensor's place, from its `shared_memory_*` parameters, checked against the region."""
        if not self.enabled:
            raise InvalidInput(f"{tensor}: {DISABLED}")
        if not isinstance(region, str) or region not in self.regions:
            raise InvalidInput(f"{tensor}: shared_memory_region {region!r} is not registered")
        found = self.regions[region]
        start = _size(0 if offset is None else offset, f"{tensor}: shared_memory_offset")
        size = _size(byte_size, f"{tensor}: shared_memory_byte_size")
        if start + size > found.byte_size:
            raise InvalidInput(
                f"{tensor}: shared_memory_offset {start} + shared_memory_byte_size {size} runs past the end "
                f"of region {region!r} ({found.byte_size} bytes)"
            )
        return Slice(found, start, size)

    def close(self) -> None:
        """Unmap everything (shutdown)."""
        for region in self.regions.values():
            region.close()
        self.regions.clear()
