"""Prometheus metrics, named as Triton names them so existing dashboards fit.

Each app owns its own registry, so tests can build many apps in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

from .batching import BatchObserver, Result

# `*_created` series double the scrape size and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

_LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_LABELS = ("model", "version")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.success = Counter("nv_inference_request_success", "Successful inference requests", _LABELS, registry=r)
        self.failure = Counter(
            "nv_inference_request_failure", "Failed inference requests", (*_LABELS, "reason"), registry=r
        )
        self.inference_count = Counter(
            "nv_inference_count", "Inferences performed (batch items, not requests)", _LABELS, registry=r
        )
        self.exec_count = Counter("nv_inference_exec_count", "Batch executions", _LABELS, registry=r)
        self.request_us = Counter(
            "nv_inference_request_duration_us", "Cumulative end-to-end request time", _LABELS, registry=r
        )
        self.queue_us = Counter(
            "nv_inference_queue_duration_us", "Cumulative time requests waited in the queue", _LABELS, registry=r
        )
        self.compute_us = Counter(
            "nv_inference_compute_infer_duration_us",
            "Cumulative model execution time, summed per request",
            _LABELS,
            registry=r,
        )
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

    def observer(self, model: str, version: str) -> BatchObserver:
        def on_batch(rows: int, seconds: float) -> None:
            self.exec_count.labels(model, version).inc()
            self.inference_count.labels(model, version).inc(rows)
            self.batch_size.labels(model, version).observe(rows)
            self.compute_seconds.labels(model, version).observe(seconds)

        depth = self.queue_depth.labels(model, version)
        return BatchObserver(on_batch=on_batch, on_queue_depth=depth.set)

    def record_success(self, model: str, version: str, result: Result, total_s: float) -> None:
        labels = (model, version)
        self.success.labels(*labels).inc()
        self.request_us.labels(*labels).inc(total_s * 1e6)
        self.queue_us.labels(*labels).inc(result.queue_s * 1e6)
        self.compute_us.labels(*labels).inc(result.compute_s * 1e6)
        self.request_seconds.labels(*labels).observe(total_s)
        self.queue_seconds.labels(*labels).observe(result.queue_s)

    def record_failure(self, model: str, version: str, reason: str) -> None:
        self.failure.labels(model, version, reason).inc()

    def set_model_info(self, model: str, version: str, provider: str | None) -> None:
        # Drop stale provider rows for this version before (re)setting.
        for labels in list(self.model_info._metrics):
            if labels[:2] == (model, version):
                self.model_info.remove(*labels)
        if provider is not None:
            self.model_info.labels(model, version, provider).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
