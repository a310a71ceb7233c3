"""Server-side breakdown of a step: scrape /metrics before and after, subtract.

Counters are Triton's (labels model, version); the formulas, per step, are
  queue ms per request   = d(nv_inference_queue_duration_us) / d(nv_inference_request_success) / 1000
  compute ms per request = d(nv_inference_compute_infer_duration_us) / d(success) / 1000
  server ms per request  = d(nv_inference_request_duration_us) / d(success) / 1000
  mean batch size        = d(nv_inference_count) / d(nv_inference_exec_count)
  compute ms per batch   = d(ortserve_compute_duration_seconds_sum) / d(..._count) * 1000
  server CPU ms per req  = d(utime + stime of the server process, from /proc) / d(success) * 1000
                           (only when the scraper knows the server's pid, i.e. it runs on the same host)
Only samples whose `model` label is the model under test are summed (and its
`version` label, when one is given), so other traffic does not leak in.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

SUCCESS = "nv_inference_request_success"
FAILURE = "nv_inference_request_failure"
INFERENCES = "nv_inference_count"
EXECUTIONS = "nv_inference_exec_count"
REQUEST_US = "nv_inference_request_duration_us"
QUEUE_US = "nv_inference_queue_duration_us"
COMPUTE_US = "nv_inference_compute_infer_duration_us"
BATCH_COMPUTE = "ortserve_compute_duration_seconds"
SERVER_CPU = "process_cpu_seconds_from_proc"

Snapshot = dict[str, float]


def parse_metrics(text: str, model: str, version: str | None = None) -> Snapshot:
    """Sum every sample of `model` (and `version`) by sample name.

    Counter samples lose their `_total` suffix (prometheus_client adds it, Triton
    does not) and `_created` timestamps are skipped. Failures are also kept per
    reason, as 'nv_inference_request_failure{reason}'.
    """
    totals: Snapshot = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("model") != model or (version is not None and labels.get("version") != version):
                continue
            name = sample.name
            if name.endswith("_created"):
                continue
            if name.endswith("_total"):
                name = name[: -len("_total")]
            totals[name] = totals.get(name, 0.0) + sample.value
            if name == FAILURE and "reason" in labels:
                key = f"{FAILURE}{{{labels['reason']}}}"
                totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def process_cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of process `pid` and all its threads, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick  # fields 14 and 15 of proc(5)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` and all its threads."""
    return sum(process_cpu_times(pid))


def diff(before: Snapshot, after: Snapshot) -> Snapshot:
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in set(before) | set(after)}


def _ratio(num: float, den: float, scale: float = 1.0) -> float:
    return num / den * scale if den > 0 else math.nan


def breakdown(delta: Snapshot) -> dict[str, float]:
    """The server-side figures of one step from a counter difference (NaN when unknown)."""
    ok = delta.get(SUCCESS, 0.0)
    out = {
        "server_requests": ok,
        "server_failures": delta.get(FAILURE, 0.0),
        "server_queue_ms": _ratio(delta.get(QUEUE_US, 0.0), ok, 1e-3),
        "server_compute_ms": _ratio(delta.get(COMPUTE_US, 0.0), ok, 1e-3),
        "server_request_ms": _ratio(delta.get(REQUEST_US, 0.0), ok, 1e-3),
        "mean_batch_size": _ratio(delta.get(INFERENCES, 0.0), delta.get(EXECUTIONS, 0.0)),
        "batch_compute_ms": _ratio(delta.get(f"{BATCH_COMPUTE}_sum", 0.0), delta.get(f"{BATCH_COMPUTE}_count", 0.0), 1e3),
        "server_cpu_ms": _ratio(delta[SERVER_CPU], ok, 1e3) if SERVER_CPU in delta else math.nan,
    }
    reasons = {k[len(FAILURE) + 1 : -1]: v for k, v in delta.items() if k.startswith(FAILURE + "{") and v}
    if reasons:
        out["server_failures_by_reason"] = reasons  # type: ignore[assignment]
    return out


class MetricsScraper:
    """Reads /metrics for one model; a failed scrape gives None, never an exception
    (a server without metrics still gets a client-side report)."""

    def __init__(self, base_url: str, model: str, version: str | None = None, timeout_s: float = 5.0,
                 pid: int | None = None) -> None:
        self.url = base_url.rstrip("/") + "/metrics"
        self.model, self.version, self.timeout_s = model, version, timeout_s
        self.pid = pid  # the server's process, when it runs on this host: its CPU time joins each snapshot
        self.error: str | None = None

    async def snapshot(self, at: float | None = None) -> Snapshot | None:
        """Counters now, or at monotonic time `at` (the client is built first: that takes ms)."""
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, trust_env=False) as client:
                if at is not None:
                    await asyncio.sleep(max(0.0, at - time.monotonic()))
                response = await client.get(self.url)
            response.raise_for_status()
            totals = parse_metrics(response.text, self.model, self.version)
            if self.pid is not None:
                totals[SERVER_CPU] = process_cpu_seconds(self.pid)
            return totals
        except (httpx.HTTPError, ValueError, OSError) as exc:
            self.error = f"GET {self.url}: {exc}"
            return None


def step_breakdown(before: Snapshot | None, after: Snapshot | None) -> dict[str, float]:
    if before is None or after is None:
        return {}
    return breakdown(diff(before, after))
