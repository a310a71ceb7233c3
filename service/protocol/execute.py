"""The one call every inference front door makes after decoding: run, then pick the outputs.

HTTP (JSON and binary) and gRPC decode their own wire formats, then all of them
come here, so the repository, batcher, limits, metrics and statistics are shared
and every check answers with the same words everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.repository import ModelRepository


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
