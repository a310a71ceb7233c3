"""One server for clients, whichever worker answers: the cross-worker routes.

Wraps a worker's ASGI app. Most requests pass straight through (inference never
leaves its worker). A few answer for the whole group:

- `GET /v2/health/ready`: 200 only when every worker is ready. A worker being
  restarted after a crash does not count against it (the others keep serving),
  one that never started yet does.
- `GET /metrics`: every worker's exposition, summed sample by sample.
- `GET .../stats`: the statistics extension, summed per model version.
- `POST /v2/repository/models/{m}/load|unload`, `POST /v2[/models/{m}]/trace/setting` and the
  system shared-memory register/unregister calls: done here, then on every peer, before the
  call returns.

A request that arrives on the private Unix socket (from a peer) is answered by
this worker alone, which is what keeps the fan-out one level deep. The models an
admin unloaded and the registered regions are written down (group.py), so a worker
restarted after a crash unloads and registers them too before it reports its
startup complete (and so before it takes connections).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from ..core.errors import NotFound, ServiceError
from ..core.repository import ModelRepository
from ..core.shared_memory import SharedMemoryRegistry
from . import Role
from .group import READ_TIMEOUT_S, Group, changes_every_worker
from .peers import Answer, merge_metrics, merge_statistics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("service.workers")
STATS = re.compile(r"^/v2/models/(stats|[^/]+/stats|[^/]+/versions/[^/]+/stats)$")


def _route(method: str, path: str) -> str | None:
    if method == "GET" and path == "/v2/health/ready":
        return "ready"
    if method == "GET" and path == "/metrics":
        return "metrics"
    if method == "GET" and STATS.match(path):
        return "stats"
    if changes_every_worker(method, path):
        return "broadcast"
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _from_peer(scope: Scope) -> bool:
    server = scope.get("server")
    return server is not None and server[1] is None  # uvicorn's Unix-socket address: (path, None)


class Gateway:
    def __init__(
        self, app: ASGIApp, role: Role, repository: ModelRepository | None = None,
        regions: SharedMemoryRegistry | None = None,
    ) -> None:
        self.app = app
        self.role = role
        self.repository = repository
        self.regions = regions
        self.group = Group(role)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._after_startup(send))
            return
        kind = _route(scope.get("method", ""), scope.get("path", "")) if scope["type"] == "http" else None
        if kind is None or _from_peer(scope):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        local = await self._local(scope, body)
        if kind == "ready":
            answer = await self._ready(local)
        elif kind == "metrics":
            answer = await self._metrics(scope, local)
        elif kind == "stats":
            answer = await self._stats(scope, local)
        else:
            answer = await self._broadcast(scope, body, local)
        content_type = b"text/plain; version=0.0.4; charset=utf-8" if kind == "metrics" else b"application/json"
        # This worker's headers (request id, security headers, WWW-Authenticate...) on the group's answer.
        headers = [(k, v) for k, v in local.headers if k.lower() not in (b"content-type", b"content-length")]
        headers += [(b"content-type", content_type), (b"content-length", str(len(answer.body)).encode())]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    def _after_startup(self, send: Send) -> Send:
        """Before the startup is reported complete, unload what the group has unloaded,
        register the group's shared-memory regions and apply its runtime trace settings."""

        async def wrapped(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                await self._replay()
            await send(message)

        return wrapped

    async def _replay(self) -> None:
        if self.repository is not None:
            for name in self.group.unloaded():
                try:
                    await self.repository.unload(name)
                except NotFound:
                    pass  # gone from the repository folder meanwhile
            for scope, changes in sorted(self.group.traces().items()):  # the server's ("") first
                try:
                    self.repository.tracing.update(changes, scope or None)
                except ServiceError as exc:
                    log.warning("trace settings not applied again", extra={"model": scope, "error": exc.message})
        if self.regions is not None:
            for name, region in self.group.regions().items():
                try:
                    self.regions.register(name, region.get("key"), region.get("offset", 0), region.get("byte_size"))
                except ServiceError as exc:  # the client removed the object meanwhile
                    log.warning("shared-memory region not registered again", extra={"region": name, "error": exc.message})

    async def _local(self, scope: Scope, body: bytes) -> Answer:
        """This worker's own answer, captured instead of sent."""
        parts: list[bytes] = []
        status = 500
        headers: list[tuple[bytes, bytes]] = []
        delivered = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client is still there as far as the route knows
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers.extend(message.get("headers", []))
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return Answer(status, b"".join(parts), headers)

    @staticmethod
    def _target(scope: Scope) -> str:
        """The request line's path as the client sent it (percent-encoded), and its query."""
        raw = scope.get("raw_path")
        path: str = raw.decode("latin-1") if raw else scope["path"]
        return path + (("?" + scope["query_string"].decode()) if scope.get("query_string") else "")

    async def _peers(self, scope: Scope, body: bytes, timeout_s: float) -> dict[int, Answer | None]:
        return await self.group.ask_peers(scope["method"], self._target(scope), scope["headers"], body, timeout_s)

    async def _ready(self, local: Answer) -> Answer:
        peers = await self._peers({"method": "GET", "path": "/v2/health/ready", "headers": []}, b"", READ_TIMEOUT_S)
        ready = 1 if local.status == 200 else 0
        restarting, waiting = 0, 0
        for index, answer in peers.items():
            if answer is None:
                # Never started yet: the group is not ready. Started before: it is being restarted.
                if self.role.marker(index).exists():
                    restarting += 1
                else:
                    waiting += 1
            elif answer.status == 200:
                ready += 1
            else:
                waiting += 1
        ok = local.status == 200 and waiting == 0
        document = orjson.loads(local.body) if local.body else {}
        document["ready"] = ok
        document["workers"] = {"count": self.role.count, "ready": ready, "restarting": restarting}
        return Answer(200 if ok else 503, orjson.dumps(document))

    async def _metrics(self, scope: Scope, local: Answer) -> Answer:
        peers = await self._peers(scope, b"", READ_TIMEOUT_S)
        texts = [local.body.decode()] + [a.body.decode() for a in peers.values() if a is not None and a.status == 200]
        return Answer(200, merge_metrics(texts).encode())

    async def _stats(self, scope: Scope, local: Answer) -> Answer:
        if local.status != 200:
            return local  # 404, 401...: the same in every worker
        peers = await self._peers(scope, b"", READ_TIMEOUT_S)
        documents = [orjson.loads(local.body)]
        documents += [orjson.loads(a.body) for a in peers.values() if a is not None and a.status == 200]
        return Answer(200, orjson.dumps(merge_statistics(documents)))

    async def _broadcast(self, scope: Scope, body: bytes, local: Answer) -> Answer:
        if local.status != 200:
            return local  # refused or failed here: the peers are not asked
        refused = await self.group.broadcast(scope["method"], self._target(scope), scope["path"], scope["headers"], body)
        return local if refused is None else refused
