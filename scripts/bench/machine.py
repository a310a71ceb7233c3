"""What the numbers were measured on, and how the cores were split."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import onnxruntime as ort


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def split_cpus(mode: str, server_count: int | None = None) -> tuple[set[int] | None, set[int] | None, str]:
    """(server CPUs, client CPUs, description). `auto` pins when there are 2 or more CPUs.

    The server gets the first half (CPU 0 on a 2-core machine), or the first
    `server_count` CPUs, the client the rest: on 2 cores each side then has exactly
    one, which halves both, and the table says so.
    """
    cpus = usable_cpus()
    if mode == "off" or (mode == "auto" and len(cpus) < 2) or not hasattr(os, "sched_setaffinity"):
        return None, None, f"not pinned: server and client share CPUs {cpus}"
    if len(cpus) < 2:
        raise ValueError(f"--pin on needs at least 2 usable CPUs, have {cpus}")
    half = min(server_count, len(cpus) - 1) if server_count else len(cpus) // 2
    server, client = set(cpus[:half]), set(cpus[half:])
    note = " (each side gets one core: both are halved)" if len(cpus) == 2 else ""
    return server, client, f"server on CPU {sorted(server)}, client on CPU {sorted(client)}{note}"


def describe() -> dict:
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "onnxruntime": ort.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
