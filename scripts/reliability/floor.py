"""The floor under a rejection: what one 503 costs ortserve, beside a bare server, on this machine.

    python -m scripts.reliability.floor [--rate 8000] [--duration 5] [--output floor.json]

The overload drill derives each rejection's CPU from what admitted requests leave over.
This measures it directly, and the floor under it, with the same client and requests:

- **ortserve**, admitting one request at a time, whose one slot is held for the whole run
  by a request that sends its headers and holds back its body: every request of the load
  is then a rejection, answered by the fast path in the HTTP protocol (service/api/uvicorn_seam.py);
- **bare**: a uvloop protocol with no framework and no parser, which finds the end of each
  request and writes the same 503 bytes. No Python HTTP server answers for less.

Both are pinned to the drill's server core, the client to the others. The report gives CPU
per answer (user and kernel, from /proc/<pid>/stat) for each. On one core at `factor` x
capacity, goodput is about (1 - factor x r) / (1 - r) of capacity, r = rejection / admitted
CPU, so the bare figure says how cheap an admitted request may be for a goodput bar to hold.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.launcher import free_port
from scripts.loadtest.metrics_diff import process_cpu_times

from .load import open_loop, request_specs
from .overload import OVERLOAD_MODELS
from .server import choose_target, emit, log_path_for, read_config, serving, split_cpus

BARE_ANSWER = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 2\r\n"
               b"retry-after: 1\r\n\r\n{}")


class BareProtocol(asyncio.Protocol):
    """Answers each complete request (Content-Length bodies) with BARE_ANSWER, nothing else."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            head = buffer[:end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            if len(buffer) < end + 4 + length:
                break
            self.transport.write(BARE_ANSWER)  # type: ignore[attr-defined]
            buffer = buffer[end + 4 + length :]
        self.buffer = buffer


def serve_bare(port: int) -> None:
    import uvloop

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(BareProtocol, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    uvloop.run(main())


def measure(url: str, pid: int, specs: list, rate: float, seconds: float) -> dict:
    open_loop(url, specs, rate, 1.0, connections=128)  # warm-up: connections, caches
    user0, sys0 = process_cpu_times(pid)
    stats = open_loop(url, specs, rate, seconds, connections=128, warmup_s=0.0)
    user1, sys1 = process_cpu_times(pid)
    answers = sum(stats.outcomes.values()) or 1
    return {"answers": dict(stats.outcomes), "late_fraction": round(stats.late / max(stats.sent, 1), 4),
            "cpu_us_per_answer": round((user1 - user0 + sys1 - sys0) / answers * 1e6, 1),
            "user_us": round((user1 - user0) / answers * 1e6, 1), "kernel_us": round((sys1 - sys0) / answers * 1e6, 1)}


@contextlib.contextmanager
def slot_held(port: int, path: str, body: bytes, headers: dict[str, str]):
    """Takes the server's only admission slot: headers sent, body held back until exit."""
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
    request = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request + body[:1])
        time.sleep(0.3)
        yield


def run(args: argparse.Namespace) -> dict:
    server_cpus, client_cpus = split_cpus()
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)
    with tempfile.TemporaryDirectory(prefix="floor-") as tmp:
        target = choose_target(None, args.model, Path(tmp), False, OVERLOAD_MODELS)
        specs = request_specs(read_config(target.repository, target.model), target.model)
        env = {"ORTSERVE_MAX_INFLIGHT_REQUESTS": "1"}
        with (serving(target.repository, env, log_path=log_path_for(Path(tmp)), cpus=server_cpus) as server,
              slot_held(server.port, specs[0].path, specs[0].body, specs[0].headers)):
            ortserve = measure(server.url, server.pid, specs, args.rate, args.duration)
        port = free_port()
        bare = subprocess.Popen([sys.executable, "-m", "scripts.reliability.floor", "--bare-port", str(port)])
        try:
            if server_cpus:
                os.sched_setaffinity(bare.pid, server_cpus)
            time.sleep(1.0)
            floor = measure(f"http://127.0.0.1:{port}", bare.pid, specs, args.rate, args.duration)
        finally:
            bare.terminate()
            bare.wait(10)
    only_503 = set(ortserve["answers"]) == {"503"}
    report = {"model": target.model, "rate_rps": args.rate, "seconds": args.duration,
              "pinning": {"server_cpus": sorted(server_cpus or []), "client_cpus": sorted(client_cpus or [])},
              "ortserve_rejection": ortserve, "bare_uvloop_answer": floor,
              "ortserve_over_bare": round(ortserve["cpu_us_per_answer"] / max(floor["cpu_us_per_answer"], 0.1), 2),
              "checks": {"every_answer_a_rejection": only_503,
                         "client_kept_up": max(ortserve["late_fraction"], floor["late_fraction"]) <= 0.05}}
    report["passed"] = all(report["checks"].values())
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.reliability.floor", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help=f"whose requests to send (default: the first of {', '.join(OVERLOAD_MODELS)})")
    p.add_argument("--rate", type=float, default=8000.0, help="requests/s, open loop (8000)")
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per server (5)")
    p.add_argument("--output", type=Path, help="also write the JSON report here")
    p.add_argument("--bare-port", type=int, help=argparse.SUPPRESS)  # the bare server's own process
    args = p.parse_args(argv)
    if args.bare_port:
        serve_bare(args.bare_port)
        return 0
    return emit(run(args), args.output)


if __name__ == "__main__":
    sys.exit(main())
