"""The one call every inference front door makes after decoding: run, then pick the outputs.

HTTP (JSON and binary) and gRPC decode their own wire formats into a typed
InferRequest, then all of them come here, so the repository, batcher, limits,
metrics and statistics are shared and every check answers with the same words.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.repository import ModelRepository
from ..core.request import InferRequest
from ..core.shared_memory import SharedMemoryRegistry
from .inference import build_response, parse_request


@dataclass(slots=True)
class Answer:
    model_name: str
    model_version: str
    # Every output the model produced for this request; the caller encodes the ones asked for.
    outputs: dict[str, np.ndarray]
    datatypes: dict[str, str]  # the model's output datatypes (built once, when it loaded)


async def run_inference(repo: ModelRepository, request: InferRequest) -> Answer:
    """Queue one decoded request; the repository checks it against the model before queueing."""
    mv, result = await repo.infer(request)
    return Answer(request.model, mv.label, result.outputs, mv.config.output_datatypes)


async def answer_infer(
    repo: ModelRepository,
    model_name: str,
    model_version: str | None,
    body: bytes,
    header_length: str | None,
    *,
    max_depth: int,
    guard: Callable[[Awaitable[Answer]], Awaitable[Answer]] | None = None,
    trace: Any = None,
    regions: SharedMemoryRegistry | None = None,
) -> tuple[bytes, int | None]:
    """One OIP `/infer` call over HTTP, bytes in and bytes out: parse, queue, await, encode.

    Both HTTP routes (the pure-ASGI endpoint and FastAPI's documented route) call
    this; `guard`, if given, wraps the wait (it cancels the work when the client goes away);
    `trace`, the request's RequestTrace when it is traced, gets the encoding's span; `regions` are
    the registered shared-memory regions tensors may lie in.
    Returns (body, JSON header length, or None when the body is plain JSON)."""
    wire = parse_request(body, header_length, model_name, model_version, max_depth=max_depth, regions=regions)
    wire.request.trace = trace
    work = run_inference(repo, wire.request)
    answer = await (work if guard is None else guard(work))
    if trace is None:
        return build_response(answer.model_version, wire, answer.outputs, answer.datatypes)
    encoding = time.monotonic()
    answered = build_response(answer.model_version, wire, answer.outputs, answer.datatypes)
    trace.encoded(encoding, answer.model_version)
    return answered
