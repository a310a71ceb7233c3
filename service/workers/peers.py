"""The private channel between workers, and how their answers merge into one.

Each worker serves its app on a Unix socket in the supervisor's private folder
as well as on the shared port; a request arriving there is answered by that
worker alone (gateway.py). A few dozen lines of HTTP/1.1 client are enough
for these small control requests and keep a dependency out of the image.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.triton_metrics import format_number

# Headers a peer needs to apply the same checks (auth) and parse the same body.
FORWARDED = (b"authorization", b"x-api-key", b"content-type")


@dataclass
class Answer:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


async def ask(path: Path, method: str, target: str, headers: Iterable[tuple[bytes, bytes]], body: bytes,
              timeout_s: float) -> Answer | None:
    """One request to the worker listening on `path`; None when nobody listens there (restarting)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), timeout_s)
    except (OSError, TimeoutError):
        return None
    try:
        head = [f"{method} {target} HTTP/1.1".encode(), b"host: worker", b"connection: close",
                b"content-length: " + str(len(body)).encode()]
        head += [k + b": " + v for k, v in headers if k.lower() in FORWARDED]
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        raw = await asyncio.wait_for(reader.read(), timeout_s)  # connection: close, so EOF ends it
    except (OSError, TimeoutError):
        return None
    finally:
        writer.close()
    header, _, payload = raw.partition(b"\r\n\r\n")
    try:
        status = int(header.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None
    return Answer(status, payload)


# -- Prometheus text ---------------------------------------------------------

# Info-style gauges are 1 per (model, version, provider) in every worker: not a count.
MAX_MERGED = ("ortserve_model_info",)


def merge_metrics(texts: list[str]) -> str:
    """Sum every sample across workers: counters, histogram buckets/sums/counts, queue gauges."""
    families: dict[str, tuple[list[str], dict[str, float]]] = {}
    current = ""
    for text in texts:
        for line in text.splitlines():
            if line.startswith(("# HELP ", "# TYPE ")):
                current = line.split(" ", 3)[2]
                comments, _ = families.setdefault(current, ([], {}))
                if line not in comments:
                    comments.append(line)
            elif line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                samples = families.setdefault(current, ([], {}))[1]
                if current in MAX_MERGED:
                    samples[key] = max(samples.get(key, 0.0), float(value))
                else:
                    samples[key] = samples.get(key, 0.0) + float(value)
    lines: list[str] = []
    for comments, samples in families.values():
        lines += comments
        lines += [f"{key} {format_number(value)}" for key, value in samples.items()]
    return "\n".join(lines) + "\n"


# -- statistics extension ----------------------------------------------------


def _add(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if key == "last_inference":
            into[key] = max(into.get(key, 0), value)
        elif isinstance(value, dict):
            _add(into.setdefault(key, {}), value)
        elif key == "batch_stats":
            by_size = {row["batch_size"]: row for row in into.setdefault(key, [])}
            for row in value:
                if row["batch_size"] in by_size:
                    _add(by_size[row["batch_size"]], {k: v for k, v in row.items() if k != "batch_size"})
                else:
                    into[key].append(row)
            into[key].sort(key=lambda row: row["batch_size"])
        elif isinstance(value, int) and not isinstance(value, bool) and key in into:
            into[key] += value
        else:
            into.setdefault(key, value)


def merge_statistics(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Triton statistics documents summed per (name, version); last_inference is the latest."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for document in documents:
        for row in document.get("model_stats", []):
            key = (row["name"], row["version"])
            if key in merged:
                _add(merged[key], row)
            else:
                merged[key] = row
    return {"model_stats": list(merged.values())}
