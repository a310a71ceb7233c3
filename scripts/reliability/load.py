"""Load for the drills, through the load-test client's own engine (scripts.loadtest).

The drills build their requests with the client's payload builders (real data
when a dataset fits the model, else synthetic tensors shaped from config.json)
and drive them with its closed- and open-loop runners over the lean raw
HTTP/1.1 transport, so the client costs tens of microseconds per request and
the drill measures the server, not itself.
"""

from __future__ import annotations

import numpy as np

from scripts.loadtest.parallel import run_async, run_step
from scripts.loadtest.payloads import RequestSpec
from scripts.loadtest.runner import StepPlan
from scripts.loadtest.samples import load_samples
from scripts.loadtest.stats import StepStats
from scripts.loadtest.sweep import build_specs

REJECTED = ("429", "503")


def request_specs(config: dict, model: str, rows: int = 1) -> list[RequestSpec]:
    """Binary-extension requests of `rows` items each, as `python -m scripts.loadtest` sends them."""
    return build_specs(config, load_samples(config), "binary", model=model, batch_size=rows)


def closed(url: str, specs: list[RequestSpec], concurrency: int, seconds: float, warmup_s: float = 1.0) -> StepStats:
    """A closed loop: `concurrency` workers, each sending when its last answer came back."""
    plan = StepPlan(mode="closed", concurrency=concurrency, warmup_s=warmup_s, duration_s=seconds)
    stats, _ = run_async(run_step(url, specs, plan))
    return stats


def open_loop(url: str, specs: list[RequestSpec], rate: float, seconds: float, *, connections: int,
              warmup_s: float = 0.5, timeout_s: float = 30.0) -> StepStats:
    """Send at a constant `rate` over `connections` connections; latency from the intended send time.

    Nothing is dropped in the client: a request due while every connection is
    busy waits for one, and that wait counts in its latency."""
    plan = StepPlan(mode="open", rate=rate, warmup_s=warmup_s, duration_s=seconds, connections=connections,
                    max_inflight=10**6, timeout_s=timeout_s)
    stats, _ = run_async(run_step(url, specs, plan))
    return stats


def _ms(samples: np.ndarray, q: float) -> float | None:
    if not samples.size:
        return None
    return round(float(np.percentile(samples, q, method="inverted_cdf")) * 1000, 2)


def describe(stats: StepStats) -> dict:
    """The figures a drill reports for one step (latencies in ms)."""
    elapsed = stats.elapsed_s or 1.0
    rejected = {k: v for k, v in stats.outcomes.items() if k[:3] in REJECTED}
    return {
        "sent": stats.sent,
        "sent_rps": round(stats.sent / (stats.nominal_s or elapsed), 1),
        "accepted": stats.ok,
        "goodput_rps": round(stats.ok / elapsed, 1),
        "accepted_latency_ms": {"p50": _ms(stats.latencies, 50), "p99": _ms(stats.latencies, 99),
                                "max": _ms(stats.latencies, 100)},
        "rejected": dict(sorted(rejected.items())),
        "rejected_latency_ms": {"p50": _ms(stats.rejected_latencies, 50), "p99": _ms(stats.rejected_latencies, 99),
                                "max": _ms(stats.rejected_latencies, 100)},
        "other_outcomes": {k: v for k, v in sorted(stats.outcomes.items()) if k != "200" and k not in rejected},
        "late_fraction": round(stats.late / stats.sent, 4) if stats.sent else 0.0,
        "max_send_lag_ms": round(stats.max_send_lag_s * 1000, 1),
        "client_cpu": round(stats.client_cpu_max, 2),
        "reconnects": stats.reconnects,
        "elapsed_s": round(elapsed, 2),
    }
