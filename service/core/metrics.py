"""Prometheus metrics: Triton's families under Triton's exact names, plus our own histograms.

Triton's (`nv_inference_*`, labels `model` and `version`) are rendered without the
`_total` suffix prometheus_client would add (see triton_metrics.py), so Triton
dashboards and alerts work unchanged. The `ortserve_*` histograms and gauges beside
them carry what Triton's counters cannot: latency quantiles, batch sizes, providers.

One source of truth, read when scraped: a request only adds to plain numbers that the
event loop owns (the statistics extension's counters, statistics.py, and a histogram's
buckets); `/metrics` turns them into families. Keeping locked counters and
prometheus_client histograms per request cost about 7 us of CPU per request.

Each app owns its own registry, so tests can build many apps in one process.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from .batch_results import BatchObserver, Result
from .cache import ResponseCache
from .statistics import Statistics, VersionStats
from .triton_metrics import Family

# `*_created` series double the scrape size and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

_LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
_BATCH_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)
_LABELS = ("model", "version")
Labels = tuple[str, str]

# Triton's counters, each read from a model version's statistics (name, help, value in Triton's unit).
_TRITON_COUNTERS: tuple[tuple[str, str, Callable[[VersionStats], float]], ...] = (
    ("nv_inference_request_success", "Number of successful inference requests, all batch sizes",
     lambda s: s.success.count),
    ("nv_inference_count", "Number of inferences performed (batch items, not requests)", lambda s: s.inference_count),
    ("nv_inference_exec_count", "Number of model executions performed (batches)", lambda s: s.execution_count),
    ("nv_inference_request_duration_us", "Cumulative inference request duration in microseconds",
     lambda s: s.success.ns / 1000),
    ("nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds",
     lambda s: s.queue.ns / 1000),
    ("nv_inference_compute_input_duration_us",
     "Cumulative compute input duration in microseconds (stacking and padding the batch), summed per request",
     lambda s: s.compute_input.ns / 1000),
    ("nv_inference_compute_infer_duration_us",
     "Cumulative compute inference duration in microseconds, summed per request", lambda s: s.compute_infer.ns / 1000),
    ("nv_inference_compute_output_duration_us",
     "Cumulative compute output duration in microseconds (slicing each answer out), summed per request",
     lambda s: s.compute_output.ns / 1000),
    # Triton's response cache families (its per-model names), from the same statistics.
    ("nv_cache_num_hits_per_model", "Number of response cache hits per model", lambda s: s.cache_hit.count),
    ("nv_cache_num_misses_per_model", "Number of response cache misses per model", lambda s: s.cache_miss.count),
    ("nv_cache_hit_duration_per_model",
     "Cumulative time requests spend retrieving a cached response per model on cache hits (microseconds)",
     lambda s: s.cache_hit.ns / 1000),
    ("nv_cache_miss_duration_per_model",
     "Cumulative time requests spend looking up and inserting responses into the cache on a cache miss "
     "(microseconds)", lambda s: s.cache_miss.ns / 1000),
)

OUT_OF_RANGE_HELP = (
    "Tensor-API requests whose float input held NaN, Inf or values outside its value_range, "
    "taken as sent as Triton takes them (per model, version and input)"
)


class Buckets:
    """A histogram's counts, owned by the event loop: one bisect and three additions per value."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        out, total = [], 0
        for bound, count in zip((*(repr(b) for b in self.bounds), "+Inf"), self.counts):
            total += count
            out.append((bound, float(total)))
        return out


class _Version:
    """One model version's live values beside its statistics."""

    __slots__ = ("batch_size", "compute", "pending", "queue", "request")

    def __init__(self) -> None:
        self.pending = 0
        self.request = Buckets(_LATENCY_BUCKETS)
        self.queue = Buckets(_LATENCY_BUCKETS)
        self.compute = Buckets(_LATENCY_BUCKETS)
        self.batch_size = Buckets(_BATCH_BUCKETS)


class _Collector(Collector):
    """The ortserve_* histograms and the queue depth, built from the live values when scraped."""

    _HISTOGRAMS = (
        ("ortserve_request_duration_seconds", "Request latency inside the server", "request"),
        ("ortserve_queue_duration_seconds", "Time a request waited before its batch ran", "queue"),
        ("ortserve_compute_duration_seconds", "Execution time per batch", "compute"),
        ("ortserve_batch_size", "Items per batch execution", "batch_size"),
    )

    def __init__(self, versions: dict[Labels, _Version]) -> None:
        self.versions = versions

    def collect(self) -> Iterator[Metric]:
        rows = sorted(self.versions.items())
        for name, documentation, attribute in self._HISTOGRAMS:
            family = HistogramMetricFamily(name, documentation, labels=_LABELS)
            for labels, live in rows:
                buckets: Buckets = getattr(live, attribute)
                family.add_metric(list(labels), buckets.cumulative(), buckets.sum)
            yield family
        depth = GaugeMetricFamily("ortserve_queue_depth", "Requests waiting per model", labels=_LABELS)
        for labels, live in rows:
            depth.add_metric(list(labels), live.pending)
        yield depth


class _CacheCollector(Collector):
    """The response cache of this process (core/cache.py): what it holds against its limit."""

    def __init__(self, cache: ResponseCache) -> None:
        self.cache = cache

    def collect(self) -> Iterator[Metric]:
        cache = self.cache
        yield GaugeMetricFamily("ortserve_response_cache_bytes", "Bytes held by the response cache", cache.bytes)
        yield GaugeMetricFamily("ortserve_response_cache_limit_bytes", "The response cache's byte limit", cache.limit)
        yield GaugeMetricFamily("ortserve_response_cache_entries", "Answers held by the response cache", len(cache))
        yield CounterMetricFamily("ortserve_response_cache_evictions", "Answers evicted to stay within the limit",
                                  cache.evictions)


class Metrics:
    def __init__(self) -> None:
        self.statistics = Statistics()
        self._versions: dict[Labels, _Version] = {}
        # Failures are rare and carry a reason: a family of their own (Triton's name and labels).
        self.failure = Family(
            "nv_inference_request_failure", "Number of failed inference requests, all batch sizes",
            "counter", (*_LABELS, "reason"),
        )
        # Tensor-API requests whose float inputs were taken as sent although NaN, Inf or outside
        # their constraints (Triton's policy): plain counts, turned into a family when scraped.
        self.out_of_range: dict[tuple[str, str, str], int] = {}
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(self._versions))
        self.model_info = Gauge(
            "ortserve_model_info", "Loaded model versions and the provider that really runs them",
            (*_LABELS, "provider"), registry=self.registry,
        )
        self.rejected = Counter(
            "ortserve_rejected_requests", "Requests rejected before reaching a model queue", ("reason",),
            registry=self.registry,
        )

    def _live(self, labels: Labels) -> _Version:
        live = self._versions.get(labels)
        if live is None:
            live = self._versions[labels] = _Version()
        return live

    def observer(self, model: str, version: str) -> BatchObserver:
        live = self._live((model, version))
        stats = self.statistics.of(model, version)

        def on_batch(rows: int, seconds: float, input_s: float = 0.0, output_s: float = 0.0) -> None:
            live.batch_size.observe(rows)
            live.compute.observe(seconds)
            stats.on_batch(rows, seconds, input_s, output_s)

        def on_queue_depth(waiting: int) -> None:
            live.pending = waiting

        return BatchObserver(on_batch=on_batch, on_queue_depth=on_queue_depth)

    def record_success(self, model: str, version: str, result: Result, total_s: float) -> None:
        live = self._versions.get((model, version)) or self._live((model, version))
        live.request.observe(total_s)
        live.queue.observe(result.queue_s)
        self.statistics.of(model, version).on_success(total_s, result)

    def record_cache_hit(self, model: str, version: str, total_s: float, lookup_s: float) -> None:
        live = self._versions.get((model, version)) or self._live((model, version))
        live.request.observe(total_s)
        live.queue.observe(0.0)
        self.statistics.of(model, version).on_cache_hit(total_s, lookup_s)

    def record_cache_miss(self, model: str, version: str, seconds: float, count: int = 1) -> None:
        """A lookup that missed (count 1), or storing its answer afterwards (count 0: time only)."""
        self.statistics.of(model, version).cache_miss.add(seconds, count)

    def watch_cache(self, cache: ResponseCache) -> None:
        """The cache's size, entries and evictions as gauges, read when scraped."""
        self.registry.register(_CacheCollector(cache))

    def record_failure(self, model: str, version: str, reason: str, total_s: float = 0.0) -> None:
        self.failure.inc((model, version, reason))
        self.statistics.of(model, version).on_failure(total_s)

    def record_out_of_range(self, model: str, version: str, inputs: list[str]) -> None:
        for name in inputs:
            key = (model, version, name)
            self.out_of_range[key] = self.out_of_range.get(key, 0) + 1

    def set_model_info(self, model: str, version: str, provider: str | None) -> None:
        # Drop stale provider rows for this version before (re)setting.
        for labels in list(self.model_info._metrics):
            if labels[:2] == (model, version):
                self.model_info.remove(*labels)
        if provider is not None:
            self.model_info.labels(model, version, provider).set(1)

    def _triton(self) -> str:
        rows = sorted(self.statistics.items(), key=lambda row: row[0])
        families = []
        for name, documentation, read in _TRITON_COUNTERS:
            family = Family(name, documentation, "counter", _LABELS)
            for labels, stats in rows:
                family.set(labels, read(stats))
            families.append(family.render())
        families.insert(1, self.failure.render())
        pending = Family("nv_inference_pending_request_count",
                         "Instantaneous number of pending requests awaiting execution", "gauge", _LABELS)
        for labels, live in sorted(self._versions.items()):
            pending.set(labels, live.pending)
        families.insert(4, pending.render())
        accepted = Family("ortserve_out_of_range_inputs", OUT_OF_RANGE_HELP, "counter", (*_LABELS, "input"))
        for key, count in sorted(self.out_of_range.items()):
            accepted.set(key, count)
        families.append(accepted.render())
        return "".join(families)

    def render(self) -> bytes:
        return self._triton().encode() + generate_latest(self.registry)
