"""The parent of `--workers N`: N copies of `python -m service` sharing one port.

Each worker binds the port itself with SO_REUSEPORT, so the kernel spreads new
connections evenly (with one inherited socket, asyncio's accept loop lets the
first worker to wake take a whole burst of connections). The supervisor keeps
a bound, non-listening socket on the port for its whole life: the port stays
reserved while a worker restarts, and a taken port fails at once, loudly.

gRPC is served the same way: every worker binds the gRPC port with SO_REUSEPORT
(the kernel spreads connections; a gRPC channel is one long-lived connection, so
each client talks to one worker), and the supervisor reserves that port too.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from ..core.cpus import Layout
from ..core.settings import Settings
from . import ENV_COUNT, ENV_DIR, ENV_INDEX, Role

log = logging.getLogger("service.workers")

STARTUP_FAILURE = 3
PR_SET_PDEATHSIG = 1
# A worker that keeps dying is restarted at most this often.
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)
# A worker that ran this long before dying starts its backoff afresh.
HEALTHY_RUN_S = 30.0
# After the drain itself, the time a worker gets to write its last answers and exit.
EXIT_GRACE_S = 15.0


def shared_socket(host: str, port: int, exclusive_check: bool = False) -> socket.socket:
    """A TCP socket bound with SO_REUSEPORT: the supervisor's reservation, or a worker's listener.

    `exclusive_check` first binds without SO_REUSEPORT, so a port some other
    process holds, even with SO_REUSEPORT (another server group), is refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if exclusive_check:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            port = probe.getsockname()[1]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it if the supervisor dies, so no worker is orphaned."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class Supervisor:
    def __init__(self, settings: Settings, layout: Layout, argv: list[str]) -> None:
        self.settings = settings
        self.layout = layout
        self.argv = argv
        self.stopping = False
        self.procs: list[subprocess.Popen[bytes]] = []
        self.directory = Path(tempfile.mkdtemp(prefix="ortserve-workers-"))
        self.role = Role(0, layout.workers, self.directory)
        self.grpc_port = settings.grpc_port  # the reserved port once run() has bound it; 0 = off

    def _spawn(self, index: int, port: int) -> subprocess.Popen[bytes]:
        env = {**os.environ, ENV_INDEX: str(index), ENV_COUNT: str(self.layout.workers), ENV_DIR: str(self.directory)}
        env["ORTSERVE_INTRA_OP_THREADS"] = str(self.layout.intra_op_threads)
        args = [*self.argv, "--port", str(port), "--grpc-port", str(self.grpc_port)]
        self.role.socket_path(index).unlink(missing_ok=True)
        return subprocess.Popen([sys.executable, "-m", "service", *args], env=env, preexec_fn=_die_with_parent)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; the exit status."""
        try:
            reservation = shared_socket(self.settings.host, self.settings.port, exclusive_check=True)
        except OSError as exc:
            log.error("cannot bind the HTTP port", extra={"port": self.settings.port, "error": str(exc)})
            return STARTUP_FAILURE
        port = reservation.getsockname()[1]
        grpc_reservation = None
        if self.settings.grpc_port:
            try:
                grpc_reservation = shared_socket(self.settings.host, self.settings.grpc_port, exclusive_check=True)
            except OSError as exc:
                log.error("cannot bind the gRPC port", extra={"port": self.settings.grpc_port, "error": str(exc)})
                reservation.close()
                return STARTUP_FAILURE
            self.grpc_port = grpc_reservation.getsockname()[1]
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            self.procs = [self._spawn(i, port) for i in range(self.layout.workers)]
            if not self._await_startup():
                return STARTUP_FAILURE
            log.info("workers ready", extra={"port": port, "workers": self.layout.workers,
                                             "pids": [p.pid for p in self.procs]})
            self._watch(port)
            return 0
        finally:
            self._stop_all()
            reservation.close()
            if grpc_reservation is not None:
                grpc_reservation.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    def _await_startup(self) -> bool:
        """Until every worker has served once; False (loudly) when one exits before it served.

        A worker that served and then died (killed the instant it started) is not a
        failed start: _watch restarts it. Exit is read before the marker, so a
        worker that wrote its marker and then died is always seen as started."""
        while not self.stopping:
            for index, proc in enumerate(self.procs):
                if proc.poll() is not None and not self.role.marker(index).exists():
                    log.error("worker failed to start; stopping the others",
                              extra={"worker": index, "exit_code": proc.returncode})
                    return False
            if all(self.role.marker(i).exists() for i in range(self.layout.workers)):
                return True
            time.sleep(0.05)
        return True

    def _watch(self, port: int) -> None:
        """Restart a worker that exits; the others keep serving meanwhile."""
        failures = [0] * len(self.procs)
        restart_at = [0.0] * len(self.procs)
        started_at = [time.monotonic()] * len(self.procs)
        while not self.stopping:
            now = time.monotonic()
            for index, proc in enumerate(self.procs):
                if proc.poll() is None:
                    continue
                if restart_at[index] == 0.0:
                    if now - started_at[index] > HEALTHY_RUN_S:
                        failures[index] = 0
                    delay = RESTART_BACKOFF_S[min(failures[index], len(RESTART_BACKOFF_S) - 1)]
                    failures[index] += 1
                    restart_at[index] = now + delay
                    log.warning("worker exited; restarting it", extra={
                        "worker": index, "pid": proc.pid, "exit_code": proc.returncode, "after_s": delay})
                elif now >= restart_at[index] and not self.stopping:
                    restart_at[index] = 0.0
                    self.procs[index] = self._spawn(index, port)
                    started_at[index] = now
            time.sleep(0.1)

    def _stop_all(self) -> None:
        """SIGTERM every worker (each drains its accepted requests), SIGKILL stragglers."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.drain_timeout_s + EXIT_GRACE_S
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker did not exit after the drain; killing it", extra={"pid": proc.pid})
                proc.kill()
                proc.wait()
