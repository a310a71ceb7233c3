"""The startup self-check of the uvicorn seam (api/uvicorn_seam.py): fail loudly, naming what is missing.

It checks every private name the seam uses (REQUIRED), the settings that would let
uvicorn answer requests outside admission, and then drives the seam's protocol over
a fake transport with an app of its own: when admission is full, a whole request in
one read and a request split across reads both get the canned 503; an admitted
request is answered in one write; a lost connection cancels its request and frees
its slot. A uvicorn release that changed what the seam relies on fails here, at
startup, not under load.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from ..core.admission import Admission
from ..core.errors import StartupError
from .admission import ADMITTED, HttpAdmission
from .uvicorn_seam import REQUIRED, protocol_for

_PROBE = b"POST /v2/models/probe/infer HTTP/1.1\r\nhost: seam-check\r\ncontent-length: 2\r\n\r\n{}"


class ProbeTransport(asyncio.Transport):
    """Records what the protocol writes; enough of a transport for uvicorn's protocol."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.writes = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def missing(group: str, holder: object) -> list[str]:
    """The names of REQUIRED[group] that `holder` (a class, an instance, or a tuple of names) lacks."""
    owner = group.split()[0]
    return [f"{owner}.{name}" for name in REQUIRED[group]
            if not (name in holder if isinstance(holder, tuple) else hasattr(holder, name))]


class _ProbeApp:
    """Answers through the InFlight the protocol puts in the scope, or waits to be cancelled."""

    def __init__(self) -> None:
        self.wait = False
        self.waiting = False
        self.outcome: str | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        in_flight = scope.get(ADMITTED)
        await receive()
        if in_flight is None:
            self.outcome = "not admitted in the protocol"
            return
        in_flight.watch(asyncio.current_task())
        try:
            if self.wait:
                self.waiting = True
                await asyncio.sleep(3600)
            self.outcome = "answered" if in_flight.answer(200, b"", b"ok") else "could not answer in one write"
        except asyncio.CancelledError:
            self.outcome = "cancelled"


async def _settle(done: Any) -> None:
    for _ in range(50):
        if done():
            return
        await asyncio.sleep(0)


async def probe(config: uvicorn.Config) -> tuple[list[str], list[str]]:
    """Drive the seam's protocol over a fake transport, with an app of its own: a full admission
    answers 503 both ways, an admitted request is answered in one write, and a lost connection
    cancels its task and frees its slot. (missing names, failures)"""
    admission = HttpAdmission(Admission(1))
    app = _ProbeApp()
    protocol_class = protocol_for(admission)
    own = uvicorn.Config(app, http=protocol_class, log_config=None, proxy_headers=False,
                         timeout_keep_alive=config.timeout_keep_alive)
    own.load()
    protocol = protocol_class(own, ServerState(), {}, _loop=asyncio.get_running_loop())
    transport = ProbeTransport()
    protocol.connection_made(transport)
    failures = []
    try:
        held = admission.take()
        protocol.data_received(_PROBE)
        if bytes(transport.written) != admission.rejection:
            failures.append("a whole request in one read did not get the canned 503")
        transport.written.clear()
        protocol.data_received(_PROBE[:-2])
        protocol.data_received(_PROBE[-2:])
        if bytes(transport.written) != admission.rejection:
            failures.append("a request split across reads did not get the canned 503 at the end of its headers")
        held.release()
        transport.written.clear()
        protocol.data_received(_PROBE)
        await _settle(lambda: app.outcome is not None)
        written = bytes(transport.written)
        if app.outcome != "answered" or not (written.startswith(b"HTTP/1.1 200 OK\r\n") and written.endswith(b"ok")):
            failures.append(f"an admitted request was not answered in one write ({app.outcome})")
        absent = missing("HttpToolsProtocol attributes", protocol)
        app.outcome, app.wait = None, True
        protocol.data_received(_PROBE)
        await _settle(lambda: app.waiting)
        protocol.connection_lost(None)
        await _settle(lambda: app.outcome is not None)
        if app.outcome != "cancelled" or admission.counter.inflight != 0:
            failures.append(f"a lost connection did not cancel its request and free its slot ({app.outcome})")
    finally:
        if protocol.timeout_keep_alive_task is not None:
            protocol.timeout_keep_alive_task.cancel()
        if not transport.is_closing():
            protocol.connection_lost(None)
    return absent, failures


async def check_seam(config: uvicorn.Config, admission: HttpAdmission, server: object) -> None:
    """Raise StartupError naming every problem; await it in the server's loop, before serving."""
    names = (missing("HttpToolsProtocol methods", HttpToolsProtocol)
             # Set in __init__, so read from its code: a class attribute check would miss them.
             + missing("RequestResponseCycle attributes", RequestResponseCycle.__init__.__code__.co_names)
             + missing("FlowControl attributes", FlowControl.__init__.__code__.co_names)
             + missing("Server attributes", server)
             + missing("ServerState attributes", ServerState.__init__.__code__.co_names))
    problems = [f"missing {name}" for name in names]
    if config.limit_concurrency is not None:
        problems.append("limit_concurrency is set: uvicorn would answer 503 itself, outside admission (unset it; "
                        "ORTSERVE_MAX_INFLIGHT_REQUESTS is the cap)")
    if not config.loaded:
        config.load()
    if not (isinstance(config.http_protocol_class, type) and issubclass(config.http_protocol_class, HttpToolsProtocol)):
        problems.append(f"http={config.http!r}: admission in the HTTP protocol needs uvicorn_seam.protocol_for()")
    if not problems:
        absent, failures = await probe(config)
        problems += [f"missing {name}" for name in absent] + failures
    _raise_if(problems)


def check_started(server: object) -> None:
    """After uvicorn's own startup: what the draining shutdown reads must be there."""
    _raise_if([f"missing {name}" for name in missing("Server attributes once started", server)])


def _raise_if(problems: list[str]) -> None:
    if problems:
        raise StartupError(
            f"uvicorn {uvicorn.__version__} does not offer what service/api/uvicorn_seam.py relies on: "
            + "; ".join(problems) + ". Install the uvicorn range pyproject.toml pins (deploy/constraints.txt).")
