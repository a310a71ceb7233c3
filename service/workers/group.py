"""A worker's calls to its peers, for whatever must hold in every worker of `--workers N`.

Both front doors use it: the HTTP gateway (gateway.py) and the gRPC servicer
(service/grpc/group.py). A change (load, unload, a shared-memory region registered
or unregistered) is applied here first, then repeated on every peer over its private
socket, before the call returns; reads (statistics) are gathered from every peer.

What changed is written down in the supervisor's private folder, so a worker that
is restarted after a crash replays it before it takes connections: it unloads what
the group unloaded, registers the group's shared-memory regions and applies the trace
settings changed at runtime.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from . import Role
from .peers import Answer, ask

READ_TIMEOUT_S = 5.0
# A load builds and warms sessions; the caller's own timeout bounds the wait.
LOAD_TIMEOUT_S = 600.0
REPOSITORY_CHANGE = re.compile(r"^/v2/repository/models/([^/]+)/(load|unload)$")
REGION_CHANGE = re.compile(r"^/v2/systemsharedmemory/(?:region/([^/]+)/)?(register|unregister)$")
TRACE_SETTING = re.compile(r"^/v2(/models/[^/]+)?/trace/setting$")
Headers = Iterable[tuple[bytes, bytes]]


def changes_every_worker(method: str, path: str) -> bool:
    return method == "POST" and bool(
        REPOSITORY_CHANGE.match(path) or REGION_CHANGE.match(path) or TRACE_SETTING.match(path))


class Group:
    def __init__(self, role: Role) -> None:
        self.role = role

    async def ask_peers(self, method: str, target: str, headers: Headers, body: bytes,
                        timeout_s: float = READ_TIMEOUT_S) -> dict[int, Answer | None]:
        """Every peer's answer (None from one that does not listen: being restarted)."""
        headers = list(headers)
        calls = [ask(self.role.socket_path(i), method, target, headers, body, timeout_s) for i in self.role.peers()]
        return dict(zip(self.role.peers(), await asyncio.gather(*calls)))

    async def broadcast(self, method: str, target: str, path: str, headers: Headers, body: bytes) -> Answer | None:
        """Repeat a change this worker has applied on every peer; the first refusal, or None.

        `target` is the request line's (percent-encoded) path, `path` the decoded one."""
        peers = await self.ask_peers(method, target, headers, body, LOAD_TIMEOUT_S)
        for index, answer in peers.items():
            if answer is not None and answer.status != 200:
                message = f"worker {self.role.index} applied it but worker {index} answered {answer.status}: "
                message += answer.body.decode(errors="replace")[:500]
                return Answer(answer.status, orjson.dumps({"error": message}))
        self.remember(path, body)
        return None

    async def statistics(self, target: str, headers: Headers) -> list[dict[str, Any]]:
        """The statistics documents of every peer that answered."""
        peers = await self.ask_peers("GET", target, headers, b"")
        return [orjson.loads(a.body) for a in peers.values() if a is not None and a.status == 200]

    # -- what a restarted worker replays -------------------------------------------------

    def unloaded(self) -> set[str]:
        """Models an admin unloaded from the group."""
        return set(self._read(self.role.unloaded, []))

    def regions(self) -> dict[str, dict[str, Any]]:
        """The group's shared-memory regions: name -> {key, offset, byte_size}."""
        found = self._read(self.role.regions, {})
        return found if isinstance(found, dict) else {}

    def traces(self) -> dict[str, dict[str, Any]]:
        """Trace settings changed at runtime: "" (the server's) or a model -> {setting: value}, a
        None value being a JSON null (cleared); the last value of each setting, as applied."""
        found = self._read(self.role.traces, {})
        return found if isinstance(found, dict) else {}

    def remember(self, path: str, body: bytes) -> None:
        trace = TRACE_SETTING.match(path)
        if trace is not None:
            scope = (trace.group(1) or "").removeprefix("/models/")
            traces = self.traces()
            traces[scope] = {**traces.get(scope, {}), **(orjson.loads(body) if body else {})}
            self._write(self.role.traces, traces)
            return
        repository = REPOSITORY_CHANGE.match(path)
        if repository is not None:
            name, action = repository.groups()
            names = self.unloaded() | {name} if action == "unload" else self.unloaded() - {name}
            self._write(self.role.unloaded, sorted(names))
            return
        region = REGION_CHANGE.match(path)
        if region is None:
            return
        name, action = region.groups()
        regions = self.regions()
        if action == "register" and name is not None:
            doc = orjson.loads(body) if body else {}
            regions[name] = {k: doc.get(k) for k in ("key", "offset", "byte_size")}
        elif name is None:
            regions = {}
        else:
            regions.pop(name, None)
        self._write(self.role.regions, regions)

    @staticmethod
    def _read(path: Path, default: Any) -> Any:
        try:
            return orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return default

    def _write(self, path: Path, value: Any) -> None:
        temporary = path.with_suffix(f".{self.role.index}.tmp")
        temporary.write_bytes(orjson.dumps(value))
        temporary.replace(path)  # atomic: a restarting worker never reads half a file
