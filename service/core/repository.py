"""The model repository: discovery, load/reload/unload, version routing, inference entry.

Layout (Triton's): `<root>/<name>/config.json` and `<root>/<name>/<version>/model.onnx`.
A broken model is marked UNAVAILABLE with its reason; it never takes others down.
A reload builds and warms the new versions *before* they take traffic; the old
ones then drain their queues in the background.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .batch_results import Result
from .batching import Batcher
from .cache import ResponseCache
from .config import ModelConfig, load_model_config
from .errors import ConfigError, ModelUnavailable, NotFound, ServiceError, ShuttingDown, status_code_for
from .metrics import Metrics
from .request import Deadline, FloatChecks, InferRequest
from .runtime import OrtRuntime
from .settings import Settings
from .tracing import Tracing
from .validation import check_inputs, check_outputs
from .versions import ModelEntry, ModelVersion, State, is_version, version_dirs

__all__ = ["MODEL_FILE", "NAME_PATTERN", "ModelEntry", "ModelRepository", "ModelVersion", "State", "is_version"]

log = logging.getLogger(__name__)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MODEL_FILE = "model.onnx"


class ModelRepository:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.root = Path(settings.repository)
        self.settings = settings
        self.metrics = metrics
        self.models: dict[str, ModelEntry] = {}
        self.startup_done = False
        self._locks: dict[str, asyncio.Lock] = {}
        self._draining: set[asyncio.Task[None]] = set()
        self._closed = False
        # Both per process: each worker of a group has its own cache and its own sampling counters.
        self.cache = ResponseCache(settings.response_cache_bytes)
        metrics.watch_cache(self.cache)
        self.tracing = Tracing(settings)

    # -- discovery and loading ------------------------------------------------

    def discover(self) -> list[str]:
        if not self.root.is_dir():
            log.error("model repository not found", extra={"repository": str(self.root)})
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and NAME_PATTERN.match(p.name))

    async def load_all(self) -> None:
        await asyncio.gather(*(self.load(name) for name in self.discover()), return_exceptions=True)
        self.startup_done = True

    def _build_version(self, config: ModelConfig, version: int) -> ModelVersion:
        """Blocking: create the session, check it against the config, warm it up."""
        mv = ModelVersion(config.name, version, config)
        path = self.root / config.name / str(version) / MODEL_FILE
        try:
            if not path.is_file():
                raise ConfigError(f"model {config.name!r} version {version}: missing {MODEL_FILE}")
            mv.runtime = OrtRuntime(path, config, self.settings)
            if self.settings.warmup:
                mv.runtime.warmup()
            mv.state = State.READY
        except ServiceError as exc:
            mv.state, mv.reason = State.UNAVAILABLE, exc.reason(config.name, version)
        except Exception as exc:  # a crash while warming up must not take the server down
            mv.state, mv.reason = State.UNAVAILABLE, str(exc)
        return mv

    def _start(self, mv: ModelVersion) -> None:
        assert mv.runtime is not None
        knobs = mv.config.dynamic_batching
        mv.executor = ThreadPoolExecutor(knobs.instance_count, thread_name_prefix=f"ort-{mv.name}")
        observer = self.metrics.observer(mv.name, str(mv.version))
        observer.on_traced = self.tracing.batch_hook(mv.name, mv.label, mv.provider)
        mv.batcher = Batcher(
            mv.config, mv.runtime.run, mv.executor,
            disable_batching=self.settings.disable_batching, observer=observer,
        )
        mv.batcher.start()
        self.metrics.set_model_info(mv.name, str(mv.version), mv.provider)

    async def load(self, name: str) -> ModelEntry:
        """Load or reload `name`; new versions are warm before they take traffic."""
        available = self.discover()
        if name not in available:
            raise NotFound(f"model {name!r} is not in the repository; available: {available}")
        async with self._locks.setdefault(name, asyncio.Lock()):
            old = self.models.get(name)
            try:
                config = load_model_config(self.root / name)
                wanted = config.version_policy.select(version_dirs(self.root / name))
                if not wanted:
                    raise ConfigError(f"model {name!r}: no version folders (positive integers) found")
            except ServiceError as exc:
                log.error("model unavailable", extra={"model": name, "reason": exc.message})
                if old is None or old.latest_ready() is None:
                    self.models[name] = ModelEntry(name, state=State.UNAVAILABLE, reason=exc.reason(name))
                else:
                    old.reason = f"reload failed, still serving the previous load: {exc.reason(name)}"
                raise
            versions = await asyncio.gather(*(asyncio.to_thread(self._build_version, config, v) for v in wanted))
            entry = ModelEntry(name, config, {mv.version: mv for mv in versions})
            for mv in versions:
                if mv.state is State.READY:
                    self._start(mv)
                    log.info("model ready", extra={"model": name, "version": mv.version, "provider": mv.provider})
                else:
                    log.error("model unavailable", extra={"model": name, "version": mv.version, "reason": mv.reason})
            if entry.latest_ready() is not None:
                entry.state = State.READY
            else:
                entry.state = State.UNAVAILABLE
                entry.reason = "; ".join(f"version {mv.version}: {mv.reason}" for mv in versions)
            self.models[name] = entry  # the switch: new requests now reach the new versions
            self.cache.invalidate(name)
            if config.response_cache.enable and not self.cache.limit:
                log.warning("response_cache.enable is set but ORTSERVE_RESPONSE_CACHE_BYTES is 0: not cached",
                            extra={"model": name})
            if old is not None:
                self._drain_later(old, keep=entry)
            return entry

    async def unload(self, name: str) -> None:
        self._check_name(name)
        async with self._locks.setdefault(name, asyncio.Lock()):
            entry = self.models.get(name)
            if entry is None or entry.state is State.UNLOADED:
                raise NotFound(f"model {name!r} is not loaded")
            self.models[name] = ModelEntry(name, entry.config, state=State.UNLOADED, reason="unloaded by an admin")
            self.cache.invalidate(name)
            self._drain_later(entry, keep=None)

    def _drain_later(self, old: ModelEntry, keep: ModelEntry | None, drain_timeout_s: float | None = None) -> None:
        timeout = self.settings.drain_timeout_s if drain_timeout_s is None else drain_timeout_s

        async def drain() -> None:
            for mv in old.versions.values():
                if mv.batcher is not None:
                    await mv.batcher.close(timeout)
                if mv.executor is not None:
                    mv.executor.shutdown(wait=False)
                still_served = keep is not None and keep.versions.get(mv.version, None) is not None
                if not still_served:
                    self.metrics.set_model_info(mv.name, str(mv.version), None)

        task = asyncio.get_running_loop().create_task(drain())
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    # -- lookup ---------------------------------------------------------------

    def _check_name(self, name: str) -> None:
        if not NAME_PATTERN.match(name):
            raise NotFound(f"model name {name!r} is not valid; names match {NAME_PATTERN.pattern}")

    def entry(self, name: str) -> ModelEntry:
        entry = self.models.get(name)
        if entry is None:
            self._check_name(name)  # only a miss needs telling a bad name from an unknown one
            raise NotFound(f"unknown model {name!r}; available: {sorted(self.models)}")
        return entry

    def get(self, name: str, version: str | None = None) -> ModelVersion:
        entry = self.entry(name)
        if version is None:
            mv = entry.latest_ready()
            if mv is None:
                raise ModelUnavailable(f"is {entry.state.value}: {entry.reason or 'no ready version'}", model=name, sep=" ")
            return mv
        if not is_version(version) or int(version) not in entry.versions:
            raise NotFound(f"has no version {version!r}; versions: {sorted(entry.versions)}", model=name, sep=" ")
        mv = entry.versions[int(version)]
        if mv.state is not State.READY or entry.state is State.UNLOADED:
            raise ModelUnavailable(f"is {mv.state.value}: {mv.reason}", model=name, version=version, sep=" ")
        return mv

    def ready(self) -> bool:
        states = [e.state for e in self.models.values()]
        if not self.startup_done or State.LOADING in states:
            return False
        if self.settings.strict_readiness and State.UNAVAILABLE in states:
            return False
        return State.READY in states

    def index(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for name in sorted(set(self.discover()) | set(self.models)):
            entry = self.models.get(name)
            if entry is None:
                rows.append({"name": name, "state": State.UNLOADED.value, "reason": "not loaded"})
                continue
            versions = entry.versions.values() or [None]
            for mv in versions:
                rows.append({
                    "name": name,
                    "version": None if mv is None else str(mv.version),
                    "state": (entry.state if mv is None or entry.state is State.UNLOADED else mv.state).value,
                    "reason": entry.reason if mv is None else mv.reason,
                })
        return rows

    # -- inference ------------------------------------------------------------

    async def infer(self, request: InferRequest) -> tuple[ModelVersion, Result]:
        """Check everything about the request against its model, then answer it from the response
        cache or queue and await it; record metrics on every path."""
        started = time.monotonic()
        name = request.model
        mv = self.get(name, request.version)
        for attempt in range(2):
            try:
                check_outputs(mv.config, request.outputs)
                triton = request.floats is FloatChecks.TRITON and mv.config.tensor_api_checks == "triton"
                accepted: list[str] | None = [] if triton else None
                request.inputs = check_inputs(
                    mv.config, request.inputs,
                    max_elements=self.settings.max_tensor_elements,
                    max_sequence=self.settings.max_sequence_length,
                    accepted=accepted,
                )
                if accepted:
                    self.metrics.record_out_of_range(name, mv.label, accepted)
                ticket = None
                if mv.config.response_cache.enable and self.cache.limit:
                    looked = time.monotonic()
                    cached, ticket = self.cache.get(name, mv.label, request.inputs, request.outputs)
                    if cached is not None:  # answered before queueing: a hit never waits behind a batch
                        return self._cache_hit(mv, request, cached, started, looked)
                    self.metrics.record_cache_miss(name, mv.label, time.monotonic() - looked)
                assert mv.batcher is not None
                deadline = request.deadline or Deadline.after(self.settings.default_timeout_s)
                result = await mv.batcher.submit(request.inputs, deadline, request.outputs, request.trace)
                if ticket is not None:
                    storing = time.monotonic()
                    self.cache.put(ticket, result.outputs)
                    self.metrics.record_cache_miss(name, mv.label, time.monotonic() - storing, count=0)
            except ShuttingDown:
                # A reload swapped this version out between lookup and submit: retry on the new one.
                current = self.get(name, request.version)
                if attempt == 0 and current is not mv:
                    mv = current
                    continue
                self.metrics.record_failure(name, mv.label, "503", time.monotonic() - started)
                raise
            except ServiceError as exc:
                self.metrics.record_failure(name, mv.label, str(status_code_for(exc)), time.monotonic() - started)
                raise
            self.metrics.record_success(name, mv.label, result, time.monotonic() - started)
            return mv, result
        raise AssertionError("unreachable")

    def _cache_hit(self, mv: ModelVersion, request: InferRequest, outputs: dict[str, Any], started: float,
                   looked: float) -> tuple[ModelVersion, Result]:
        now = time.monotonic()
        if request.trace is not None:
            request.trace.child("cache hit", looked, now)
            request.trace.set("ortserve.cache", "hit")
        self.metrics.record_cache_hit(mv.name, mv.label, now - started, now - looked)
        return mv, Result(outputs, 0.0, 0.0, 0)

    async def close(self, drain_timeout_s: float | None = None) -> None:
        """Drain every model (SIGTERM path): finish what was accepted, then stop; queued work
        gets up to `drain_timeout_s` (default: the setting), the rest is failed with 503.

        Idempotent: the server's SIGTERM handler drains first, and the app's
        lifespan shutdown (the only path for in-process clients) calls it again."""
        if self._closed:
            return
        self._closed = True
        for entry in list(self.models.values()):
            self._drain_later(entry, keep=None, drain_timeout_s=drain_timeout_s)
        if self._draining:
            await asyncio.gather(*self._draining, return_exceptions=True)
        await asyncio.to_thread(self.tracing.shutdown)  # the last spans are exported
