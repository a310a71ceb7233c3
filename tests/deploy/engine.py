"""A real Docker engine for tests/deploy/test_compose_engine.py: the CLI calls the check makes,
the images it builds, a keep-alive HTTP load of its own for the drain, and a report of figures.

Every container, network and volume the check creates carries its compose project name or the
label `ortserve-check=<run id>`, so cleanup removes exactly those and nothing else on the engine.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.conftest import ROOT

# Debian's client first: a newer docker elsewhere on PATH may lack the buildx plugin BuildKit needs.
DOCKER = "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else (shutil.which("docker") or "docker")
ENGINE_SCRIPT = ROOT / "scripts" / "ci" / "docker-engine.sh"
BASE_SCRIPT = ROOT / "scripts" / "docker-base.sh"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
LABEL = "ortserve-check"


class EngineError(AssertionError):
    pass


def run(cmd: list[str], timeout: float = 120, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise EngineError(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return run([DOCKER, *args], timeout=timeout, check=check)


def answers() -> bool:
    try:
        return docker("info", timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def compose_command() -> list[str] | None:
    """Debian's docker-compose (v1) where installed, else the v2 plugin of Debian's client."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if subprocess.run([DOCKER, "compose", "version"], capture_output=True).returncode == 0:
        return [DOCKER, "compose"]
    return None


def inspect(name: str) -> dict:
    return json.loads(docker("inspect", name).stdout)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise EngineError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def http_get(port: int, path: str, timeout: float = 5) -> tuple[int, bytes]:
    """(status, body) of GET 127.0.0.1:port/path; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, http.client.HTTPException):
        return 0, b""


def prometheus_query(port: int, query: str) -> dict:
    status, body = http_get(port, "/api/v1/query?" + urllib.parse.urlencode({"query": query}))
    payload = json.loads(body or b"{}")
    if status != 200 or payload.get("status") != "success":
        raise EngineError(f"Prometheus rejected {query!r}: HTTP {status} {body[:300]!r}")
    return payload["data"]


def health(name: str) -> str:
    state = inspect(name)["State"]
    return state.get("Health", {}).get("Status", "none") if state["Running"] else state["Status"]


def published(name: str) -> list[tuple[str, str]]:
    """(host address, container port) of every port the container publishes."""
    ports = inspect(name)["NetworkSettings"]["Ports"] or {}
    return [(b["HostIp"], container) for container, bindings in ports.items() for b in bindings or []]


def crash(name: str, helper_image: str) -> None:
    """kill -9 of the container's process, as a crash (the restart policy applies; `docker kill`
    would count as a manual stop). Without root, a throwaway container in the host's PID
    namespace sends it: SIGKILL from inside the container's own namespace cannot stop its PID 1."""
    pid = inspect(name)["State"]["Pid"]
    try:
        os.kill(pid, signal.SIGKILL)
    except PermissionError:
        docker("run", "--rm", "--pid=host", "--label", f"{LABEL}=crash", "--entrypoint", "sh", helper_image,
               "-c", f"kill -9 {pid}")


def counter(name: str, metric: str, model: str) -> float:
    """A counter of the container's own /metrics, read inside it (replicas publish no port)."""
    code = (
        "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/metrics', timeout=5)"
        ".read().decode())"
    )
    text = docker("exec", name, "python", "-c", code, timeout=30).stdout
    prefix = f'{metric}{{model="{model}"'
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


# ---------------------------------------------------------------------------------------------
# Images


def build(target: str, tag: str, python_image: str) -> float:
    """BuildKit build of one Dockerfile target (its stages only); returns the seconds it took."""
    started = time.monotonic()
    run(
        [DOCKER, "build", "--network", "host", "--build-arg", f"PYTHON_IMAGE={python_image}",
         "--target", target, "--tag", tag, str(ROOT)],
        timeout=1200, env={**os.environ, "DOCKER_BUILDKIT": "1"},
    )
    return time.monotonic() - started


def base_images() -> dict[str, str]:
    """scripts/docker-base.sh's images (built once per set of inputs), trusting the host's CAs:
    this check runs where it builds, and the build machine's proxy may need them."""
    ca = ["--ca-bundle", str(HOST_CA_BUNDLE)] if HOST_CA_BUNDLE.exists() else []
    out = run(["bash", str(BASE_SCRIPT), *ca], timeout=1200).stdout
    return dict(line.split("=", 1) for line in out.split())


def size_mb(image: str) -> float:
    return float(inspect(image)["Size"]) / 1e6


# ---------------------------------------------------------------------------------------------
# The drain's load: keep-alive clients, each request with an id the server's access log repeats


@dataclass
class Outcome:
    rid: str
    sent: float
    done: float = 0.0
    status: int = 0  # 0: no answer
    error: str = ""


@dataclass
class KeepAliveLoad:
    """`clients` threads, each on one keep-alive connection, sending `body` to `path` until the
    server refuses new connections (it stopped listening) or `seconds` pass."""

    port: int
    path: str
    body: bytes
    headers: dict[str, str]
    clients: int = 16
    seconds: float = 60.0
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(self.clients)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def join(self) -> None:
        for t in self._threads:
            t.join(self.seconds + 30)

    def _client(self, index: int) -> None:
        deadline = time.monotonic() + self.seconds
        conn: http.client.HTTPConnection | None = None
        n = 0
        while time.monotonic() < deadline:
            n += 1
            outcome = Outcome(rid=f"drain-{index}-{n}", sent=time.monotonic())
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                conn.request("POST", self.path, body=self.body, headers={**self.headers, "X-Request-ID": outcome.rid})
                resp = conn.getresponse()
                resp.read()
                outcome.status = resp.status
                if resp.will_close:
                    conn.close()
                    conn = None
            except ConnectionRefusedError:
                outcome.error = "refused"
            except (OSError, http.client.HTTPException) as exc:
                outcome.error = type(exc).__name__
                if conn is not None:
                    conn.close()
                conn = None
            outcome.done = time.monotonic()
            with self._lock:
                self.outcomes.append(outcome)
            if outcome.error == "refused":
                return


def access_log_ids(container: str, prefix: str) -> dict[str, int]:
    """request id -> status of every request the server's access log shows it handled."""
    logs = docker("logs", container, timeout=60)
    seen = {}
    for line in (logs.stdout + logs.stderr).splitlines():
        if not line.startswith("{"):
            continue
        doc = json.loads(line)
        if doc.get("msg") == "request" and str(doc.get("request_id", "")).startswith(prefix):
            seen[doc["request_id"]] = int(doc["status"])
    return seen
