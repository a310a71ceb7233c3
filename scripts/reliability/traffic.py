"""Load for the drills: request bodies, a closed loop (capacity) and an open loop (offered rate).

The open loop sends on a fixed schedule whatever the server does, and counts
latency from each request's *intended* send time, so a server (or a client)
that falls behind cannot hide it (no coordinated omission). Rejections are
counted by status and by whether they carried Retry-After.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from scripts.loadtest.transport import classify
import numpy as np

from service.core.datatypes import KSERVE_TO_NUMPY
from service.protocol.binary import HEADER, encode_binary_tensor


@dataclass(frozen=True)
class RequestSpec:
    path: str
    body: bytes
    headers: dict[str, str]


def _tensor(spec: dict, length: int, batched: bool, rng: np.random.Generator) -> np.ndarray:
    shape = ([1] if batched else []) + [length if d == -1 else d for d in spec["dims"]]
    if spec["datatype"] == "BYTES":
        return np.full(shape, b"sample", dtype=object)
    dtype = KSERVE_TO_NUMPY[spec["datatype"]]
    if dtype.kind == "f":
        return rng.random(shape).astype(dtype)
    return np.ones(shape, dtype=dtype)  # ids, masks, lengths: 1 is valid for each


def request_specs(config: dict, model: str, sequence_length: int | None = None, count: int = 16) -> list[RequestSpec]:
    """`count` binary-extension requests of one item each, random inputs shaped from config.json.

    The drills measure how the server copes with load, not accuracy, so shaped
    random data is enough. Variable dims get lengths spread from a quarter of
    `sequence_length` up to all of it, so batches pad and ORT sees many shapes,
    as with real traffic.
    """
    longest = sequence_length or config.get("warmup", {}).get("sequence_length", 8)
    batched = config.get("max_batch_size", 0) > 0
    rng = np.random.default_rng(0)
    specs = []
    for k in range(count):
        length = max(1, round(longest * (0.25 + 0.75 * k / max(1, count - 1))))
        tensors = {s["name"]: (s["datatype"], _tensor(s, length, batched, rng)) for s in config["input"]}
        raws = {name: encode_binary_tensor(array) for name, (_, array) in tensors.items()}
        header = json.dumps({
            "inputs": [
                {"name": n, "shape": list(a.shape), "datatype": dt, "parameters": {"binary_data_size": len(raws[n])}}
                for n, (dt, a) in tensors.items()
            ],
            "parameters": {"binary_data_output": True},
        }).encode()
        headers = {"content-type": "application/octet-stream", HEADER: str(len(header))}
        specs.append(RequestSpec(f"/v2/models/{model}/infer", header + b"".join(raws.values()), headers))
    return specs


def percentiles_ms(values: list[float]) -> dict[str, float]:
    """Nearest-rank p50/p99 (a latency some request really had) and max, in ms."""
    if not values:
        return {"p50": None, "p99": None, "max": None}
    p50, p99 = np.percentile(np.asarray(values), [50, 99], method="inverted_cdf")
    return {"p50": round(float(p50) * 1000, 2), "p99": round(float(p99) * 1000, 2), "max": round(max(values) * 1000, 2)}


def _reject_reason(status: int, body: bytes) -> str:
    if status != 503:
        return str(status)
    if b"queue is full" in body:
        return "503 queue_full"
    if b"concurrent inference requests" in body:
        return "503 inflight_limit"
    return "503 other"


@dataclass
class Tally:
    """What one phase observed. Latencies in seconds; accepted means HTTP 200."""

    accepted: list[float] = field(default_factory=list)
    rejected_latency: list[float] = field(default_factory=list)  # how fast 429/503 came back
    statuses: Counter = field(default_factory=Counter)
    with_retry_after: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    sent: int = 0
    max_send_lag_s: float = 0.0
    send_window_s: float = 0.0  # from the first send to the last
    elapsed_s: float = 0.0  # from the first send to the last answer

    def record(self, status: str, latency: float, retry_after: bool = False, reason: str | None = None) -> None:
        self.statuses[status] += 1
        if status == "200":
            self.accepted.append(latency)
        elif status in ("429", "503"):
            self.rejected_latency.append(latency)
            self.with_retry_after[status] += int(retry_after)
            self.reasons[reason or status] += 1

    @property
    def rate(self) -> float:
        """Accepted requests per second."""
        return len(self.accepted) / self.elapsed_s if self.elapsed_s else 0.0

    def summary(self) -> dict:
        return {
            "sent": self.sent,
            "sent_rps": round(self.sent / self.send_window_s, 1) if self.send_window_s else 0.0,
            "achieved_rps": round(self.rate, 1),
            "accepted": len(self.accepted),
            "accepted_latency_ms": percentiles_ms(self.accepted),
            "rejected": {
                s: {"count": n, "with_retry_after": self.with_retry_after[s]}
                for s, n in sorted(self.statuses.items()) if s in ("429", "503")
            },
            "rejected_by_reason": dict(sorted(self.reasons.items())),
            "rejected_latency_ms": percentiles_ms(self.rejected_latency),
            "other_outcomes": {s: n for s, n in sorted(self.statuses.items()) if s not in ("200", "429", "503")},
            "max_send_lag_ms": round(self.max_send_lag_s * 1000, 1),
            "elapsed_s": round(self.elapsed_s, 2),
        }


POOL_SIZE = 16


def make_client(url: str, connections: int, timeout_s: float) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout_s, trust_env=False)


async def _send(client: httpx.AsyncClient, spec: RequestSpec, started: float, tally: Tally) -> None:
    try:
        response = await client.post(spec.path, content=spec.body, headers=spec.headers)
    except httpx.HTTPError as exc:
        tally.record(classify(exc), time.monotonic() - started)
        return
    status = response.status_code
    tally.record(str(status), time.monotonic() - started, "retry-after" in response.headers,
                 _reject_reason(status, response.content))


async def closed_loop(url: str, specs: list[RequestSpec], concurrency: int, duration_s: float,
                      timeout_s: float = 30.0) -> Tally:
    """`concurrency` workers, each sending as soon as its last answer came back."""
    tally = Tally()
    async with make_client(url, concurrency, timeout_s) as client:
        t0 = time.monotonic()
        stop = t0 + duration_s

        async def worker(k: int) -> None:
            i = k
            while time.monotonic() < stop:
                tally.sent += 1
                await _send(client, specs[i % len(specs)], time.monotonic(), tally)
                i += concurrency

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        tally.elapsed_s = tally.send_window_s = time.monotonic() - t0
    return tally


async def open_loop(url: str, specs: list[RequestSpec], rate: float, duration_s: float, *,
                    connections: int = 256, timeout_s: float = 30.0) -> Tally:
    """Send at a constant `rate` for `duration_s`; latency counts from the intended send time.

    `connections` should exceed the server's admission limit, so the excess
    reaches the server (and is rejected there) instead of queueing in the client.
    They are split over pools of POOL_SIZE: httpx's pool bookkeeping costs grow with
    the requests waiting on one pool, and a client that burns its CPU there under
    overload would report its own lateness as server latency.
    """
    tally = Tally()
    tasks: set[asyncio.Task] = set()
    pools = [make_client(url, POOL_SIZE, timeout_s) for _ in range(max(1, connections // POOL_SIZE))]
    try:
        t0 = time.monotonic()
        count = int(rate * duration_s)
        for i in range(count):
            intended = t0 + i / rate
            delay = intended - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                tally.max_send_lag_s = max(tally.max_send_lag_s, -delay)
            tally.sent += 1
            client = pools[i % len(pools)]
            task = asyncio.create_task(_send(client, specs[i % len(specs)], intended, tally))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        tally.send_window_s = max(time.monotonic() - t0, count / rate)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s + 5)
        tally.elapsed_s = time.monotonic() - t0
        for task in tasks:  # not answered in time: counted, never silently left out
            task.cancel()
            tally.record("unfinished", 0.0)
    finally:
        await asyncio.gather(*(c.aclose() for c in pools))
    return tally
