"""A lean HTTP/1.1 keep-alive connection for the load generator.

Why not httpx here: with the server pinned to one core and the client to the
other, httpx spent ~0.6 ms of client CPU per request, so at concurrency 64 the
client sat at 86-100% of its core while the server used under half of its own
(measured from /proc/<pid>/stat). The benchmark was measuring the client. This
connection writes pre-encoded request bytes and reads just enough of the answer
(status line, Content-Length or chunked framing) to consume the body: a few
tens of microseconds per request. httpx stays available (`--transport httpx`).

One request at a time per connection, as a closed loop and the pool need; a
connection the server closes, or one left in an unknown state by a timeout, is
dropped and reopened on the next request (each reopening is counted).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from .payloads import RequestSpec

_MAX_HEAD = 64 * 1024


def outcome_of(status: int, headers: dict[str, str]) -> str:
    """The status as the outcome name; a 429/503 without Retry-After is told apart."""
    if status in (429, 503) and "retry-after" not in headers:
        return f"{status}_no_retry_after"
    return str(status)


class BadResponse(Exception):
    """The server's bytes are not a well-formed HTTP/1.1 response."""


def request_bytes(spec: RequestSpec, host: str, base_path: str) -> bytes:
    lines = [f"{spec.method} {base_path}{spec.path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(spec.body)}"]
    lines += [f"{k}: {v}" for k, v in spec.headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + spec.body


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers of a response head (without the blank line)."""
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise BadResponse(f"bad status line {status_line[:80]!r}")
    headers = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise BadResponse(f"bad header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> int:
    """Consume the body the headers announce; return its length."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BadResponse(f"bad chunk size {size_line[:40]!r}") from None
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the blank line
                    pass
                return total
            await reader.readexactly(size + 2)
            total += size
    length = headers.get("content-length")
    if length is None:
        raise BadResponse("response has neither Content-Length nor chunked framing")
    if not length.isdigit():
        raise BadResponse(f"bad Content-Length {length!r}")
    await reader.readexactly(int(length))
    return int(length)


class RawConnection:
    """One keep-alive connection to `base_url` (http only); `send` returns the outcome name."""

    def __init__(self, base_url: str, timeout_s: float, encoded: dict | None = None) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"the raw transport speaks plain http://host:port, got {base_url!r}; use --transport httpx")
        self.host, self.port = url.hostname, url.port or 80
        self._host_header = url.netloc
        self._base_path = url.path.rstrip("/")
        self.timeout_s = timeout_s
        self.opened = 0  # connections opened: 1 while keep-alive holds
        # id(spec) -> (spec, request bytes); a pool shares one among its connections.
        self._encoded: dict[int, tuple[RequestSpec, bytes]] = {} if encoded is None else encoded
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def reconnects(self) -> int:
        return max(0, self.opened - 1)

    def _bytes_for(self, spec: RequestSpec) -> bytes:
        # Specs are replayed for a whole step: encode each once (kept with its spec so the id stays valid).
        hit = self._encoded.get(id(spec))
        if hit is None or hit[0] is not spec:
            hit = self._encoded[id(spec)] = (spec, request_bytes(spec, self._host_header, self._base_path))
        return hit[1]

    async def send(self, spec: RequestSpec) -> str:
        if self._reader is not None and self._reader.at_eof():
            # The server closed this idle connection (its keep-alive timeout): open a new one
            # rather than write into a closed socket and report a failure the server never made.
            self._drop()
        connecting = self._writer is None
        try:
            async with asyncio.timeout(self.timeout_s):
                if connecting:
                    try:
                        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
                    except OSError:
                        return "connect_error"
                    self.opened += 1
                    connecting = False
                return await self._exchange(self._bytes_for(spec))
        except TimeoutError:
            self._drop()  # a late answer would be read as the next request's
            return "connect_error" if connecting else "timeout"
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, BadResponse):
            self._drop()
            return "connection_closed"

    async def _exchange(self, payload: bytes) -> str:
        assert self._reader is not None and self._writer is not None
        self._writer.write(payload)
        head = await self._reader.readuntil(b"\r\n\r\n")
        if len(head) > _MAX_HEAD:
            raise BadResponse("response head too large")
        status, headers = parse_head(head[:-4])
        await read_body(self._reader, headers)
        if headers.get("connection", "").lower() == "close":
            self._drop()
        return outcome_of(status, headers)

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def aclose(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
