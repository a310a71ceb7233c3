"""Sending: outcome names, and a pool of keep-alive connections that stays O(1).

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

import httpx

from .payloads import RequestSpec


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
    return str(response.status_code)


class ClientPool:
    """Clients lent out one request at a time; build it with `open` or from given clients (tests)."""

    def __init__(self, clients: Iterable[httpx.AsyncClient]) -> None:
        self._clients = list(clients)
        self._idle: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for client in self._clients:
            self._idle.put_nowait(client)

    @classmethod
    def open(cls, base_url: str, size: int, timeout_s: float) -> ClientPool:
        """`size` clients of one keep-alive connection each, sharing one TLS context."""
        tls = httpx.create_ssl_context()  # built once: each costs milliseconds
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        return cls(
            httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout_s, verify=tls, trust_env=False)
            for _ in range(max(1, size))
        )

    async def send(self, spec: RequestSpec) -> str:
        client = await self._idle.get()
        try:
            return await send(client, spec)
        finally:
            self._idle.put_nowait(client)

    async def aclose(self) -> None:
        for client in set(self._clients):
            await client.aclose()

    async def __aenter__(self) -> ClientPool:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()
