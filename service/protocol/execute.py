"""The one call every inference front door makes after decoding: run, then pick the outputs.

HTTP (JSON and binary) and gRPC decode their own wire formats, then all of them
come here, so the repository, batcher, limits, metrics and statistics are shared
and every check answers with the same words everywhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from ..core.repository import ModelRepository
from .inference import build_response, parse_request


@dataclass
class Answer:
    model_name: str
    model_version: str
    # Every output the model produced; the caller encodes the ones it was asked for.
    outputs: dict[str, np.ndarray]
    datatypes: dict[str, str]


async def run_inference(
    repo: ModelRepository,
    model_name: str,
    model_version: str | None,
    inputs: dict[str, np.ndarray],
    requested: list[str] | None,
    timeout: object,
) -> Answer:
    """Queue one decoded request; the repository checks the inputs, the requested
    outputs and the raw `timeout` parameter before queueing (core/validation.py)."""
    mv, result = await repo.infer(model_name, model_version, inputs, timeout, requested)
    datatypes = {s.name: s.datatype for s in mv.config.output}
    return Answer(model_name, str(mv.version), result.outputs, datatypes)


async def answer_infer(
    repo: ModelRepository,
    model_name: str,
    model_version: str | None,
    body: bytes,
    header_length: str | None,
    *,
    max_depth: int,
    guard: Callable[[Awaitable[Answer]], Awaitable[Answer]],
) -> tuple[bytes, int | None]:
    """One OIP `/infer` call over HTTP, bytes in and bytes out: parse, queue, await, encode.

    Both HTTP routes (the pure-ASGI fast path and FastAPI's documented route) call
    this; `guard` wraps the wait (it cancels the work when the client goes away).
    Returns (body, JSON header length, or None when the body is plain JSON)."""
    parsed = parse_request(body, header_length, max_depth=max_depth)
    requested = None if parsed.outputs is None else [o.name for o in parsed.outputs]
    answer = await guard(
        run_inference(repo, model_name, model_version, parsed.inputs, requested, parsed.parameters.get("timeout"))
    )
    return build_response(model_name, answer.model_version, parsed, answer.outputs, answer.datatypes)
