"""Sending: outcome names, and a pool of keep-alive connections that stays O(1).

Two HTTP transports: `raw` (wire.py, the default: cheap enough that the client is not
the bottleneck) and `httpx` (a full client, also what the tests' mock servers use);
and `grpc` (grpc_transport.py) for `--protocol grpc`.

httpcore's connection pool scans every connection on every request. With 64
connections in one httpx client that scan dominated the client's CPU, and a
closed loop at concurrency 64 reached a fifth of what it did at 16 (measured
here with cProfile: 3M `is_idle` calls for 1,000 requests). So each connection
gets its own single-connection client, and an asyncio.Queue of idle clients
does the pooling. A request that waits for a free connection waits in the queue,
and in an open loop that wait is part of its latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

import httpx

from .payloads import RequestSpec
from .wire import RawConnection, outcome_of

TRANSPORTS = ("raw", "httpx")


def classify(exc: BaseException) -> str:
    """Outcome names for transport failures, kept apart from HTTP statuses."""
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return "connect_error"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "connection_closed"
    return "transport_error"


async def send(client: httpx.AsyncClient, spec: RequestSpec) -> str:
    """Send one request and read its body; return the outcome ('200', '503', 'timeout', ...)."""
    try:
        response = await client.request(spec.method, spec.path, content=spec.body, headers=spec.headers)
    except httpx.HTTPError as exc:
        return classify(exc)
    return outcome_of(response.status_code, response.headers)


class Connection(Protocol):
    reconnects: int  # connections reopened after the first

    async def send(self, spec: RequestSpec) -> str: ...

    async def aclose(self) -> None: ...


class HttpxConnection:
    """An httpx client used one request at a time (httpx reconnects out of sight: none are counted)."""

    reconnects = 0

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, spec: RequestSpec) -> str:
        return await send(self.client, spec)

    async def aclose(self) -> None:
        await self.client.aclose()


class ClientPool:
    """Connections lent out one request at a time; build it with `open`, or from given connections (tests)."""

    def __init__(self, connections: Iterable[Connection]) -> None:
        self._connections = list(connections)
        self._idle: asyncio.Queue[Connection] = asyncio.Queue()
        for connection in self._connections:
            self._idle.put_nowait(connection)

    @classmethod
    def open(cls, base_url: str, size: int, timeout_s: float, transport: str = "raw") -> ClientPool:
        """`size` keep-alive connections to `base_url`."""
        size = max(1, size)
        if transport == "grpc":  # base_url is then a host:port gRPC target
            from .grpc_transport import open_connections

            return cls(open_connections(base_url, size, timeout_s))
        if transport == "raw":
            encoded: dict = {}  # request bytes are the same for every connection: encode each spec once
            return cls(RawConnection(base_url, timeout_s, encoded) for _ in range(size))
        if transport != "httpx":
            raise ValueError(f"transport must be one of {TRANSPORTS}, got {transport!r}")
        tls = httpx.create_ssl_context()  # built once: each costs milliseconds
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        return cls(
            HttpxConnection(
                httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout_s, verify=tls, trust_env=False)
            )
            for _ in range(size)
        )

    @property
    def reconnects(self) -> int:
        """Connections reopened over the pool's life: keep-alive that did not hold."""
        return sum(c.reconnects for c in self._connections)

    async def send(self, spec: RequestSpec) -> str:
        connection = await self._idle.get()
        try:
            return await connection.send(spec)
        finally:
            self._idle.put_nowait(connection)

    async def aclose(self) -> None:
        # Tests may lend one connection to many slots: close each once.
        for connection in {id(c): c for c in self._connections}.values():
            await connection.aclose()

    async def __aenter__(self) -> ClientPool:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()
