"""Service settings, read from ORTSERVE_* environment variables.

Read through `get_settings()` instead of at import time so tests (and the CLI)
can build their own `Settings` and hand it to `create_app`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REPOSITORY = PROJECT_ROOT / "models" / "repository"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORTSERVE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # The Open Inference Protocol over gRPC, on Triton's port; 0 turns it off.
    grpc_port: int = Field(8001, ge=0, le=65535)
    repository: Path = DEFAULT_REPOSITORY
    # Server processes sharing the port; "auto" = one per usable CPU (affinity and
    # cgroup quota, see core/cpus.py). 1 is a single process with no supervisor.
    workers: Annotated[int, Field(ge=1)] | Literal["auto"] = 1
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = True
    # One log line per HTTP request (method, path, status, duration, id). Off by default,
    # as in Triton and nginx: on the hot path it costs about as much CPU as a small model.
    access_log: bool = False

    # Runtime. `auto` takes CUDA only when onnxruntime has it *and* a session
    # really obtains it; `cuda` refuses to serve a model that fell back to CPU.
    provider: Literal["auto", "cuda", "cpu"] = "auto"
    cuda_device_id: int = 0
    # 0 lets onnxruntime pick (one thread per physical core).
    intra_op_threads: int = Field(0, ge=0)
    inter_op_threads: int = Field(0, ge=0)
    graph_optimization_level: Literal["disable", "basic", "extended", "all"] = "all"
    # Spinning burns CPU between runs for lower latency; on a shared 2-core box it
    # steals cycles from the HTTP workers, so it is off unless asked for.
    allow_spinning: bool = False
    warmup: bool = True

    # Batching. Disabling forces one request per execution (benchmarks compare both).
    disable_batching: bool = False
    default_timeout_s: float = Field(30.0, gt=0)

    # Limits: every one of them answers 413/422 with the limit and the value received.
    max_body_bytes: int = Field(64 * 1024 * 1024, gt=0)
    max_tensor_elements: int = Field(16 * 1024 * 1024, gt=0)
    max_items_per_request: int = Field(256, gt=0)
    max_text_length: int = Field(1024, gt=0)
    max_json_depth: int = Field(32, gt=0)
    # Longest variable axis (frames, tokens) any request may carry.
    max_sequence_length: int = Field(4096, gt=0)
    # Requests being handled at once; past it we answer 503 before reading the
    # body, so overload costs almost nothing instead of queueing without bound.
    max_inflight_requests: int = Field(512, gt=0)
    # Numbers in one /attention JSON answer (layers x heads x seq x seq, twice with the BertViz block).
    max_attention_elements: int = Field(1_000_000, gt=0)

    # Security: both off by default; constant-time comparison in the API layer.
    api_key: str | None = None
    admin_token: str | None = None
    cors_origins: list[str] = []
    # Triton's system shared-memory extension: clients on this host register regions of
    # /dev/shm and send tensors through them. A door into the host's memory: off by default.
    system_shared_memory: bool = False

    # Readiness: by default a broken model does not fail the whole server's
    # readiness (the others keep serving; its own ready endpoint says why).
    strict_readiness: bool = False

    # Shutdown: how long accepted work may take to drain after SIGTERM.
    drain_timeout_s: float = Field(30.0, ge=0)

    # Response cache (core/cache.py): the byte limit of each server process's cache (LRU by
    # bytes). A model is cached only when its config.json says `"response_cache": {"enable": true}`;
    # 0 turns caching off for every model. A hit is faster than a miss, so a client can tell
    # that someone sent the same input before: see docs/response-cache.md before enabling it.
    response_cache_bytes: int = Field(64 * 1024 * 1024, ge=0)

    # Tracing (core/tracing): Triton's trace settings, changeable at runtime through
    # /v2/trace/setting and gRPC TraceSetting. Spans go to the OTLP/HTTP exporter, configured
    # by the standard OTEL_* variables (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_SERVICE_NAME...).
    trace_level: Literal["OFF", "TIMESTAMPS"] = "OFF"
    trace_rate: int = Field(1000, ge=1)  # one request in trace_rate is traced
    trace_count: int = Field(-1, ge=-1)  # traces left to take; -1: no limit
    trace_log_frequency: int = Field(0, ge=0)  # export after every N traces; 0: the exporter's own schedule


@lru_cache
def get_settings() -> Settings:
    return Settings()
