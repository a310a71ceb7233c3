"""The server under test: which repository and model, the process, and its RSS.

A drill either starts the server through the project's launcher
(scripts/launcher.py, on a free 127.0.0.1 port, pinned to its own CPU), or
attaches to one already running (`--url` and `--pid`, loopback only). RSS is
read from /proc through psutil on the server's own PID, so it is the server's
memory, not the load generator's.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

from scripts.bench.machine import split_cpus as bench_split_cpus
from scripts.launcher import ServerProcess
from scripts.loadtest.metrics_diff import process_cpu_seconds
from service.core.settings import DEFAULT_REPOSITORY

# Reference models tried in this order when no --model is given.
REFERENCE_MODELS = ("vowels_lstm", "digits_lenet")
# The tiny `sequence` fixture with 16 hidden layers and 200 frames per request:
# ~40 ms of compute per request on one ORT thread of this 2-core machine, so
# capacity is a few tens of requests per second, and one Python client (which
# shares the CPU) can really offer 5x that. Depth rather than length buys the
# compute, so activations (and ORT's arena) stay small.
TINY_LAYERS = 16
TINY_SEQUENCE_LENGTH = 200
MB = 1024 * 1024


@dataclass
class Target:
    repository: Path
    model: str
    source: str  # printed in the report: which model really ran


def add_target_args(p: argparse.ArgumentParser, models: tuple[str, ...] = REFERENCE_MODELS) -> None:
    """The options every drill shares: which repository and model to serve, or which server to attach to."""
    p.add_argument("--repository", type=Path, help="model repository (default: models/repository)")
    p.add_argument("--model", help=f"model to load (default: the first of {', '.join(models)} present, "
                                   "else the tiny fixture)")
    p.add_argument("--tiny", action="store_true", help="serve the tiny fixture even if reference models exist")
    p.add_argument("--url", help="attach to a running server on loopback instead of starting one (needs --pid)")
    p.add_argument("--pid", type=int, help="PID of the attached server, for RSS")


def choose_target(repository: Path | None, model: str | None, workdir: Path, tiny: bool = False,
                  models: tuple[str, ...] = REFERENCE_MODELS) -> Target:
    """The given repository/model, else the first of `models` present, else the tiny `sequence` fixture."""
    if tiny:
        return tiny_target(workdir, "--tiny")
    if repository is not None or model is not None:
        repo = Path(repository or DEFAULT_REPOSITORY)
        name = model or next((m for m in models if (repo / m / "config.json").is_file()), None)
        if name is None:
            raise SystemExit(f"no --model given and none of {models} is in {repo}")
        return Target(repo, name, f"{repo}/{name}")
    for name in models:
        if (DEFAULT_REPOSITORY / name / "config.json").is_file():
            return Target(DEFAULT_REPOSITORY, name, f"reference model {name}")
    return tiny_target(workdir, "no reference models found")


def tiny_target(workdir: Path, why: str = "") -> Target:
    """The tiny `sequence` fixture, built with onnx (a dev dependency) as the tests build it."""
    from tests.tiny_models import SEQUENCE_CONFIG, sequence_graph, write_model

    root = workdir / "tiny"
    # The load generator shapes synthetic requests from the config's warm-up length.
    config = {**SEQUENCE_CONFIG, "warmup": {**SEQUENCE_CONFIG["warmup"], "sequence_length": TINY_SEQUENCE_LENGTH}}
    write_model(root, config, sequence_graph(layers=TINY_LAYERS))
    source = f"tiny fixture tests/tiny_models.py:sequence, {TINY_LAYERS} layers" + (f" ({why})" if why else "")
    return Target(root, "sequence", source)


def limited_repository(target: Target, queue_size: int | None, workdir: Path) -> Path:
    """A one-model repository whose config.json has a small max_queue_size.

    Version folders are symlinked, so the real ONNX files are served unchanged.
    """
    if queue_size is None:
        return target.repository
    src = target.repository / target.model
    config = json.loads((src / "config.json").read_text())
    config.setdefault("dynamic_batching", {})["max_queue_size"] = queue_size
    dst = workdir / "limited" / target.model
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "config.json").write_text(json.dumps(config, indent=2))
    for child in src.iterdir():
        if child.is_dir() and child.name.isdigit():
            (dst / child.name).symlink_to(child.resolve(), target_is_directory=True)
    return dst.parent


def read_config(repository: Path, model: str) -> dict:
    return json.loads((repository / model / "config.json").read_text())


def check_loopback(url: str) -> None:
    """Load drills are a denial-of-service tool: they only ever hit this machine."""
    host = urlsplit(url).hostname or ""
    addresses = {info[4][0].split("%")[0] for info in socket.getaddrinfo(host, None)} if host else set()
    if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise SystemExit(f"--url {url!r} is not a loopback address; the drills only run against 127.0.0.1")


def split_cpus() -> tuple[set[int] | None, set[int] | None]:
    """(server CPUs, client CPUs): the first allowed CPU for the server, the rest for the client.

    Pinned apart, a busy client cannot steal the server's core, so the drill
    measures the server. On a single CPU nothing is pinned (and the report says so)."""
    server, client, _ = bench_split_cpus("auto", server_count=1)
    return server, client


@dataclass
class Attached:
    """A server started elsewhere (--url/--pid): same questions as a ServerProcess."""

    url: str
    pid: int

    def alive(self) -> bool:
        try:
            if psutil.Process(self.pid).status() == psutil.STATUS_ZOMBIE:
                return False
            return httpx.get(f"{self.url}/v2/health/live", timeout=5, trust_env=False).status_code == 200
        except (psutil.Error, httpx.HTTPError):
            return False

    def exit_code(self) -> int | None:
        return None


@contextlib.contextmanager
def serving(repository: Path, env: dict[str, str], *, url: str | None = None, pid: int | None = None,
            log_path: Path, cpus: set[int] | None = None) -> Iterator[ServerProcess | Attached]:
    """Start the server through the project's launcher (SIGTERM on exit), or attach to `url` + `pid`."""
    if url is not None:
        if pid is None:
            raise SystemExit("--url needs --pid: RSS is sampled on the server's own process")
        check_loopback(url)
        yield Attached(url.rstrip("/"), pid)
        return
    with ServerProcess(repository, env, cpus=cpus, log_path=log_path) as server:
        yield server


class RssSampler:
    """Samples a process's RSS every `interval_s` seconds in a background thread."""

    def __init__(self, pid: int, interval_s: float) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.samples: list[tuple[float, int]] = []  # (seconds since start, bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._t0 = 0.0

    def __enter__(self) -> RssSampler:
        self._t0 = time.monotonic()
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        try:
            self.samples.append((time.monotonic() - self._t0, psutil.Process(self.pid).memory_info().rss))
        except psutil.Error:
            pass  # the process is gone; `alive` in the report says so

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def mark(self) -> float:
        """Seconds since sampling began (to cut phases out of the samples)."""
        return time.monotonic() - self._t0

    def summary(self, since: float = 0.0) -> dict:
        values = [rss for t, rss in self.samples if t >= since] or [0]
        return {
            "start_mb": round(values[0] / MB, 1),
            "peak_mb": round(max(values) / MB, 1),
            "end_mb": round(values[-1] / MB, 1),
            "growth_mb": round((values[-1] - values[0]) / MB, 1),
            "samples": len(values),
        }


def log_path_for(workdir: Path) -> Path:
    return workdir / f"server-{os.getpid()}.log"


def emit(report: dict, output: Path | None) -> int:
    """Print the JSON report, write it if asked; exit status 1 when a check failed."""
    text = json.dumps(report, indent=2)
    print(text)
    if output:
        output.write_text(text + "\n")
    return 0 if report["passed"] else 1


class CpuWindow:
    """The server's CPU seconds (all threads, from /proc) from `delay_s` after entry to exit:
    the delay skips a load step's unmeasured warm-up, so the CPU matches the step's counts."""

    def __init__(self, pid: int, delay_s: float) -> None:
        self.pid, self.started, self.seconds = pid, 0.0, 0.0
        self._timer = threading.Timer(delay_s, self._mark)

    def _mark(self) -> None:
        self.started = process_cpu_seconds(self.pid)

    def __enter__(self) -> CpuWindow:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.join()
        with contextlib.suppress(OSError):
            self.seconds = process_cpu_seconds(self.pid) - self.started
