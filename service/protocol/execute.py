"""The one call every inference front door makes after decoding: run, then pick the outputs.

HTTP (JSON and binary) and gRPC decode their own wire formats, then all of them
come here, so the repository, batcher, limits, metrics and statistics are shared
and an unknown requested output is reported with the same words everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import InvalidInput
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
    timeout_s: float | None,
) -> Answer:
    """Queue one decoded request and check that every requested output exists."""
    mv, result = await repo.infer(model_name, model_version, inputs, timeout_s)
    if requested is not None:
        unknown = sorted(set(requested) - set(result.outputs))
        if unknown:
            raise InvalidInput(
                f"model {model_name!r}: unknown output(s) {unknown}; expected some of {sorted(result.outputs)}"
            )
    datatypes = {s.name: s.datatype for s in mv.config.output}
    return Answer(model_name, str(mv.version), result.outputs, datatypes)
