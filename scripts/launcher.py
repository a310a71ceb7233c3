"""The one way tests, benchmarks and drills start the service: `python -m service` on loopback.

A real process on a free 127.0.0.1 port, optionally pinned to CPUs (so a load
generator pinned elsewhere measures the server, not itself), its output in a
log file, ready when `/v2/health/ready` answers 200, stopped with SIGTERM (the
server drains) and SIGKILL only if it does not exit in time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port the kernel just handed out; the tiny race with another binder is acceptable here."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`python -m service --host 127.0.0.1 --port P --repository R --grpc-port G [args]`, started at once.

    `env` adds ORTSERVE_* variables; `cpus` pins the process and every thread it
    starts (sched_setaffinity before exec). As a context manager it waits until
    ready on entry and stops the server on exit.
    """

    def __init__(
        self,
        repository: Path,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        *,
        cpus: Iterable[int] | None = None,
        log_path: Path | None = None,
        ready_timeout_s: float = 120.0,
        grpc: bool = False,
    ) -> None:
        self.repository = Path(repository)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # gRPC gets its own free port when asked for, and is off otherwise:
        # servers started side by side must never all claim the default 8001.
        self.grpc_port = free_port() if grpc else 0
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        self.grpc_url = self.grpc_target
        self.ready_timeout_s = ready_timeout_s
        self.log_path = Path(log_path or Path(tempfile.gettempdir()) / f"ortserve-{self.port}.log")
        self.cpus = set(cpus) if cpus else None
        full_env = {**os.environ, "ORTSERVE_LOG_LEVEL": "warning", **(env or {})}
        cpus_ = self.cpus
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(self.port),
                 "--repository", str(self.repository), "--grpc-port", str(self.grpc_port), *(args or [])],
                cwd=PROJECT_ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus_)) if cpus_ else None,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def process(self) -> subprocess.Popen:
        return self.proc

    def wait_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.ready_timeout_s)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()[-5000:]}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=2, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready after {timeout or self.ready_timeout_s:.0f} s:\n{self.log()[-5000:]}")

    def alive(self) -> bool:
        """Still running and answering liveness."""
        if self.proc.poll() is not None:
            return False
        try:
            return httpx.get(f"{self.url}/v2/health/live", timeout=5, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    def exit_code(self) -> int | None:
        return self.proc.poll()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM (the server drains), SIGKILL if it has not exited after `timeout`; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    stop = terminate

    def __enter__(self) -> ServerProcess:
        try:
            self.wait_ready()
        except BaseException:
            self.terminate()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.terminate()
