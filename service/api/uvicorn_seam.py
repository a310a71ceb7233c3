"""The one module that reaches into uvicorn's private code: its httptools protocol and its Server.

**Admission in the HTTP protocol.** Under 5x overload four of five requests are
rejected, and on one core each rejection's CPU comes out of the capacity left for
admitted work: through the ASGI stack a rejection cost about 80 us (scope, task,
middleware, two sends), which at 5x took ~40% of the goodput. So, when admission
(api/admission.py) is full:

- a whole small POST in one read is answered from `data_received` with the canned
  503, before the parser sees it (no callbacks, no header list, no scope);
- otherwise, at the end of the headers, the same answer is written and the parser
  reads and discards the body as it arrives.

Either way the connection stays open. An admitted request takes its slot when its
headers end (one read can hold many connections' requests; deciding later let them
all pass, then turned most away through the ASGI stack at several times the cost)
and gives it back when its response completes or its connection is lost: both are
protocol events, so no path can leak a slot. Anything unusual (a pipelined request
behind an unfinished one, an upgrade) takes no slot here; the edge admits it.

**Draining inside the graceful-shutdown window** (DrainingServer): plain uvicorn
waits for in-flight requests, then cancels them (a bare text/plain 500), and runs
the app's lifespan shutdown, our drain, only after that.

What this relies on is listed in REQUIRED and probed at startup (`check_seam`):
a uvicorn release that lacks any of it stops the server with the missing names.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from ..core.errors import StartupError
from ..core.repository import ModelRepository
from ..grpc.server import GrpcServer
from .admission import ADMITTED, HttpAdmission, Slot
from .early_answer import SMALL_BODY
from .small_request import one_small_request

log = logging.getLogger("service")

# After the model queues have drained, the time left to write the last responses.
RESPONSE_GRACE_S = 5
# Every private name used below, by the class that must have it (checked by check_seam).
REQUIRED: dict[str, tuple[str, ...]] = {
    "HttpToolsProtocol methods": (
        "data_received", "on_message_begin", "on_message_complete", "on_headers_complete",
        "on_response_complete", "connection_lost", "timeout_keep_alive_handler"),
    "HttpToolsProtocol attributes": (
        "pipeline", "cycle", "server_state", "parser", "timeout_keep_alive_task", "timeout_keep_alive",
        "loop", "transport", "flow", "url", "scope", "expect_100_continue"),
    "RequestResponseCycle attributes": (
        "response_complete", "response_started", "message_event", "keep_alive", "disconnected", "on_response"),
    "FlowControl attributes": ("write_paused",),
    "Server attributes": ("startup", "shutdown", "server_state", "started", "should_exit"),
    "ServerState attributes": ("connections", "tasks", "total_requests", "default_headers"),
    "Server attributes once started": ("servers",),
}


class _Answered(RequestResponseCycle):
    """The cycle of a request the protocol answered itself: complete from the start, so the
    parser drops its body and a disconnect has nothing to wake. Nothing of uvicorn's runs."""

    response_complete = True
    message_event = asyncio.Event()

    def __init__(self) -> None:  # uvicorn's __init__ would build a whole request cycle
        pass


_ANSWERED = _Answered()
_STATUS_LINES = {status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode() for status in HTTPStatus}


class InFlight:
    """A request the protocol admitted (the edge finds it in the scope under ADMITTED).

    It holds the request's admission slot until the response completes or the
    connection is lost, cancels the task that `watch`es it when the connection is lost
    (no watcher task per request), and `answer` writes a whole response in one write."""

    __slots__ = ("_protocol", "_slot", "_task", "disconnected")

    def __init__(self, protocol: HttpToolsProtocol, slot: Slot) -> None:
        self._protocol = protocol
        self._slot: Slot | None = slot
        self._task: asyncio.Task[Any] | None = None
        self.disconnected = False

    def watch(self, task: asyncio.Task[Any] | None) -> None:
        """Cancel `task` if the connection is lost, or now if it is lost already (None: stop watching)."""
        self._task = task
        if task is not None and self.disconnected:
            task.cancel()

    def answer(self, status: int, head: bytes, body: bytes) -> bool:
        """Write status line, uvicorn's default headers (date, server), `head` (complete header
        lines of ours, without content-length) and `body` in one write, and complete the
        response as uvicorn's own send would. False when it cannot (the caller then sends
        through ASGI): the response began already, the client left, or writing is paused."""
        protocol = self._protocol
        cycle = protocol.cycle
        if cycle is None or cycle.response_started or cycle.disconnected or protocol.flow.write_paused:
            return False
        cycle.response_started = cycle.response_complete = True
        defaults = b"".join(name + b": " + value + b"\r\n" for name, value in protocol.server_state.default_headers)
        length = b"content-length: %d\r\n" % len(body)
        close = b"" if cycle.keep_alive else b"connection: close\r\n"
        protocol.transport.write(b"".join((_STATUS_LINES[status], defaults, head, length, close, b"\r\n", body)))
        cycle.message_event.set()
        if not cycle.keep_alive:
            protocol.transport.close()
        cycle.on_response()
        return True

    def end(self, lost: bool) -> None:
        self.release()
        if lost:
            self.disconnected = True
            if self._task is not None:
                self._task.cancel()

    def release(self) -> None:
        if self._slot is not None:
            self._slot.release()
            self._slot = None


def protocol_for(admission: HttpAdmission) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, taking and giving back `admission`'s slots (see the module doc)."""

    class AdmittingProtocol(HttpToolsProtocol):
        _mid_message = False  # the parser holds part of a request
        _active_at = 0.0  # loop time of the last whole-request rejection
        _in_flight: InFlight | None = None  # the request in progress, when admitted here

        def data_received(self, data: bytes) -> None:
            if (admission.full and not self._mid_message and not self.pipeline
                    and (self.cycle is None or self.cycle.response_complete) and one_small_request(data)):
                self.transport.write(admission.reject())
                self.server_state.total_requests += 1
                # Keep-alive: a timestamp rather than a cancelled and a new timer per answer
                # (a few us each, thousands of times a second); the armed timer reads it.
                self._active_at = self.loop.time()
                if self.timeout_keep_alive_task is None:
                    self.timeout_keep_alive_task = self.loop.call_later(
                        self.timeout_keep_alive, self.timeout_keep_alive_handler)
                return
            super().data_received(data)

        def timeout_keep_alive_handler(self) -> None:
            idle = self.loop.time() - self._active_at
            if idle < self.timeout_keep_alive and not self.transport.is_closing():
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive - idle, self.timeout_keep_alive_handler)
                return
            super().timeout_keep_alive_handler()

        def on_message_begin(self) -> None:
            self._mid_message = True
            super().on_message_begin()

        def on_message_complete(self) -> None:
            self._mid_message = False
            super().on_message_complete()

        def on_headers_complete(self) -> None:
            if (self.pipeline or (self.cycle is not None and not self.cycle.response_complete)
                    or self.parser.should_upgrade()
                    or not admission.covers(self.parser.get_method().decode("ascii"), self.url.decode("latin-1"))):
                super().on_headers_complete()  # not ours to admit: the edge does (or nothing to admit)
                return
            if not admission.full:
                self._in_flight = InFlight(self, admission.take())
                self.scope[ADMITTED] = self._in_flight  # type: ignore[literal-required]  # our own key, read by the edge
            elif self._answerable_here():
                self.transport.write(admission.reject())
                self.cycle = _ANSWERED
                self.on_response_complete()  # re-arms keep-alive, as after any answer
                return
            super().on_headers_complete()  # full, and unusual: the edge answers 503 before the body

        def _answerable_here(self) -> bool:
            if self.expect_100_continue or self.parser.get_http_version() != "1.1":
                return False
            if not self.parser.should_keep_alive():
                return False
            length = next((v for k, v in self.scope["headers"] if k == b"content-length"), None)
            return length is not None and length.isdigit() and int(length) <= SMALL_BODY

        def on_response_complete(self) -> None:
            if self._in_flight is not None:
                self._in_flight.end(lost=False)
                self._in_flight = None
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._in_flight is not None:
                self._in_flight.end(lost=True)
                self._in_flight = None
            super().connection_lost(exc)

    return AdmittingProtocol


class DrainingServer(uvicorn.Server):
    """uvicorn, with the model queues drained *inside* the graceful-shutdown window.

    SIGTERM first stops the listeners, then drains the queues: accepted work runs for
    up to drain_timeout_s, whatever is left is failed with ShuttingDown (a 503 JSON
    answer with Retry-After), and uvicorn then only waits for those answers. The gRPC
    server (same loop, same repository) starts before HTTP and stops accepting calls
    together with it; its calls in flight end with the queues. At startup the seam is
    checked first (check_seam): a uvicorn that lacks what this module uses stops here.
    """

    def __init__(
        self, config: uvicorn.Config, repository: ModelRepository, admission: HttpAdmission,
        grpc: GrpcServer | None = None, on_started: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self.repository = repository
        self.admission = admission
        self.grpc = grpc
        self.on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        from .seam_check import check_seam, check_started  # the probe drives this module's protocol

        try:
            await check_seam(self.config, self.admission, self)
        except StartupError as exc:
            log.error(str(exc))
            self.should_exit = True  # `started` stays False: main() exits with status 3
            return
        # gRPC binds first, so by the time HTTP answers "ready" the gRPC port is listening
        # too; while the models load (uvicorn's lifespan, below) gRPC ServerReady says false.
        if self.grpc is not None:
            try:
                await self.grpc.start()
            except RuntimeError as exc:  # e.g. the port is taken
                log.error("gRPC failed to start", extra={"error": str(exc)})
                self.should_exit = True
                return
        await super().startup(sockets)
        if self.started:
            try:
                check_started(self)
            except StartupError as exc:
                log.error(str(exc))
                self.started, self.should_exit = False, True
        if not self.started and self.grpc is not None:  # HTTP failed to start
            await self.grpc.stop(0)
        if self.started and self.on_started is not None:
            self.on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # new connections are refused from here on
        connections: set[Any] = self.server_state.connections
        for connection in list(connections):
            connection.shutdown()  # idle keep-alive connections close; busy ones close after their answer
        # gRPC refuses new calls at once; its calls in flight end with the queues below.
        grpc_stopped = None
        if self.grpc is not None:
            grace = self.repository.settings.drain_timeout_s + RESPONSE_GRACE_S
            grpc_stopped = asyncio.ensure_future(self.grpc.stop(grace))
        # Requests already read finish with the queues still open: closing them first answered
        # one that was between its headers and its queue with a 503 (seen under `docker stop`).
        # Both waits share one drain_timeout_s, so a stop still ends within the orchestrator's grace.
        budget = self.repository.settings.drain_timeout_s
        ends = asyncio.get_running_loop().time() + budget
        tasks: set[asyncio.Task[None]] = self.server_state.tasks
        if tasks:
            await asyncio.wait(set(tasks), timeout=budget)
        await self.repository.close(max(0.0, ends - asyncio.get_running_loop().time()))
        if grpc_stopped is not None:
            await grpc_stopped
        await super().shutdown(sockets)
