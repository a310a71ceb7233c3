"""Prometheus metrics: Triton's families under Triton's exact names, plus our own histograms.

Triton's (`nv_inference_*`, labels `model` and `version`) are rendered without the
`_total` suffix prometheus_client would add (see triton_metrics.py), so Triton
dashboards and alerts work unchanged. The `ortserve_*` histograms and gauges beside
them carry what Triton's counters cannot: latency quantiles, batch sizes, providers.
The same hooks feed the statistics extension (statistics.py).

Each app owns its own registry, so tests can build many apps in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

from .batch_results import BatchObserver, Result
from .statistics import Statistics
from .triton_metrics import Family

# `*_created` series double the scrape size and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

_LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_LABELS = ("model", "version")


class _Children:
    """One model version's histogram children, looked up once at load instead of per request."""

    def __init__(self, metrics: Metrics, labels: tuple[str, str]) -> None:
        self.request_seconds = metrics.request_seconds.labels(*labels)
        self.queue_seconds = metrics.queue_seconds.labels(*labels)
        self.compute_seconds = metrics.compute_seconds.labels(*labels)
        self.batch_size = metrics.batch_size.labels(*labels)


class Metrics:
    def __init__(self) -> None:
        self.statistics = Statistics()
        # Triton's names, types and labels (docs/user_guide/metrics.md).
        self.success = Family(
            "nv_inference_request_success", "Number of successful inference requests, all batch sizes",
            "counter", _LABELS,
        )
        self.failure = Family(
            "nv_inference_request_failure", "Number of failed inference requests, all batch sizes",
            "counter", (*_LABELS, "reason"),
        )
        self.inference_count = Family(
            "nv_inference_count", "Number of inferences performed (batch items, not requests)", "counter", _LABELS
        )
        self.exec_count = Family(
            "nv_inference_exec_count", "Number of model executions performed (batches)", "counter", _LABELS
        )
        self.pending = Family(
            "nv_inference_pending_request_count", "Instantaneous number of pending requests awaiting execution",
            "gauge", _LABELS,
        )
        self.request_us = Family(
            "nv_inference_request_duration_us", "Cumulative inference request duration in microseconds",
            "counter", _LABELS,
        )
        self.queue_us = Family(
            "nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds",
            "counter", _LABELS,
        )
        self.compute_us = Family(
            "nv_inference_compute_infer_duration_us",
            "Cumulative compute inference duration in microseconds, summed per request", "counter", _LABELS,
        )
        self.compute_input_us = Family(
            "nv_inference_compute_input_duration_us",
            "Cumulative compute input duration in microseconds (stacking and padding the batch), summed per request",
            "counter", _LABELS,
        )
        self.compute_output_us = Family(
            "nv_inference_compute_output_duration_us",
            "Cumulative compute output duration in microseconds (slicing each answer out), summed per request",
            "counter", _LABELS,
        )
        self.triton = [
            self.success, self.failure, self.inference_count, self.exec_count, self.pending,
            self.request_us, self.queue_us, self.compute_input_us, self.compute_us, self.compute_output_us,
        ]

        self.registry = CollectorRegistry()
        r = self.registry
        self.request_seconds = Histogram(
            "ortserve_request_duration_seconds", "Request latency inside the server", _LABELS,
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.queue_seconds = Histogram(
            "ortserve_queue_duration_seconds", "Time a request waited before its batch ran", _LABELS,
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.compute_seconds = Histogram(
            "ortserve_compute_duration_seconds", "Execution time per batch", _LABELS,
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.batch_size = Histogram(
            "ortserve_batch_size", "Items per batch execution", _LABELS, buckets=_BATCH_BUCKETS, registry=r
        )
        self.queue_depth = Gauge("ortserve_queue_depth", "Requests waiting per model", _LABELS, registry=r)
        self.model_info = Gauge(
            "ortserve_model_info", "Loaded model versions and the provider that really runs them",
            (*_LABELS, "provider"), registry=r,
        )
        self.rejected = Counter(
            "ortserve_rejected_requests", "Requests rejected before reaching a model queue", ("reason",), registry=r
        )
        self._children: dict[tuple[str, str], _Children] = {}

    def _for(self, labels: tuple[str, str]) -> _Children:
        children = self._children.get(labels)
        if children is None:
            children = self._children[labels] = _Children(self, labels)
        return children

    def observer(self, model: str, version: str) -> BatchObserver:
        labels = (model, version)
        children = self._for(labels)

        def on_batch(rows: int, seconds: float, input_s: float = 0.0, output_s: float = 0.0) -> None:
            self.exec_count.inc(labels)
            self.inference_count.inc(labels, rows)
            children.batch_size.observe(rows)
            children.compute_seconds.observe(seconds)
            self.statistics.on_batch(model, version, rows, seconds, input_s, output_s)

        depth = self.queue_depth.labels(*labels)

        def on_queue_depth(waiting: int) -> None:
            depth.set(waiting)
            self.pending.set(labels, waiting)

        return BatchObserver(on_batch=on_batch, on_queue_depth=on_queue_depth)

    def record_success(self, model: str, version: str, result: Result, total_s: float) -> None:
        labels = (model, version)
        self.success.inc(labels)
        self.request_us.inc(labels, total_s * 1e6)
        self.queue_us.inc(labels, result.queue_s * 1e6)
        self.compute_us.inc(labels, result.compute_s * 1e6)
        self.compute_input_us.inc(labels, result.input_s * 1e6)
        self.compute_output_us.inc(labels, result.output_s * 1e6)
        children = self._for(labels)
        children.request_seconds.observe(total_s)
        children.queue_seconds.observe(result.queue_s)
        self.statistics.on_success(model, version, total_s, result)

    def record_failure(self, model: str, version: str, reason: str, total_s: float = 0.0) -> None:
        self.failure.inc((model, version, reason))
        self.statistics.on_failure(model, version, total_s)

    def set_model_info(self, model: str, version: str, provider: str | None) -> None:
        # Drop stale provider rows for this version before (re)setting.
        for labels in list(self.model_info._metrics):
            if labels[:2] == (model, version):
                self.model_info.remove(*labels)
        if provider is not None:
            self.model_info.labels(model, version, provider).set(1)

    def render(self) -> bytes:
        triton = "".join(family.render() for family in self.triton)
        return triton.encode() + generate_latest(self.registry)
