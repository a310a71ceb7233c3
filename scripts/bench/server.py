"""The service as a subprocess on a free 127.0.0.1 port, optionally pinned to CPUs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port the kernel just handed out; the tiny race with another binder is acceptable here."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`python -m service --port P --grpc-port G --repository R`, started and stopped as a context manager.

    `env` adds ORTSERVE_* variables (e.g. ORTSERVE_DISABLE_BATCHING=true);
    `cpus` pins the process (and the threads it starts) with sched_setaffinity.
    """

    def __init__(self, repository: Path, *, env: dict[str, str] | None = None, cpus: Iterable[int] | None = None,
                 ready_timeout_s: float = 120.0, log_path: Path | None = None) -> None:
        self.repository = Path(repository)
        self.env = {**os.environ, "ORTSERVE_LOG_LEVEL": "warning", **(env or {})}
        self.cpus = set(cpus) if cpus else None
        self.ready_timeout_s = ready_timeout_s
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Its own gRPC port too (never the default 8001, which another server may hold).
        self.grpc_port = free_port()
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> ServerProcess:
        command = [sys.executable, "-m", "service", "--port", str(self.port), "--grpc-port", str(self.grpc_port),
                   "--repository", str(self.repository)]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        cpus = self.cpus
        self.process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        if log is not subprocess.DEVNULL:
            log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode} before it was ready ({self.log_hint})")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=2, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {self.ready_timeout_s:.0f} s ({self.log_hint})")

    @property
    def log_hint(self) -> str:
        return f"log: {self.log_path}" if self.log_path else "run with a log path to see its output"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
