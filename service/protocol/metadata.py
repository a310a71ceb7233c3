"""Server and model metadata documents, shared by the HTTP and gRPC front doors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import __version__
from ..core.config import TensorSpec
from ..core.errors import ModelUnavailable
from ..core.repository import ModelEntry, ModelRepository, ModelVersion, State

SERVER_NAME = "ortserve"
EXTENSIONS = [
    "binary_tensor_data", "model_repository", "model_configuration", "statistics",
    "friendly_endpoints", "metrics", "trace",
]


def server_metadata(shared_memory: bool = False) -> dict[str, Any]:
    """`shared_memory`: the system shared-memory extension is turned on (a setting), so it is listed."""
    extensions = [*EXTENSIONS, "system_shared_memory"] if shared_memory else EXTENSIONS
    return {"name": SERVER_NAME, "version": __version__, "extensions": extensions}


def _tensors(specs: Iterable[TensorSpec], batched: bool, inputs: bool = False) -> list[dict[str, Any]]:
    """Inputs as clients send them (a scalar per item as [1], see TensorSpec.wire_dims)."""
    return [
        {"name": s.name, "datatype": s.datatype, "shape": ([-1] if batched else []) + (s.wire_dims if inputs else s.dims)}
        for s in specs
    ]


def _document(entry: ModelEntry, mv: ModelVersion | None) -> dict[str, Any]:
    cfg = entry.config
    doc: dict[str, Any] = {
        "name": entry.name,
        "versions": [str(v) for v in sorted(entry.versions)],
        "platform": "onnx_onnxv1",
        "inputs": _tensors(cfg.input, cfg.batched, inputs=True) if cfg else [],
        "outputs": _tensors(cfg.output, cfg.batched) if cfg else [],
        "state": (mv.state if mv and entry.state is not State.UNLOADED else entry.state).value,
        "reason": (mv.reason if mv else entry.reason) or entry.reason,
    }
    if mv is not None:
        doc["version"] = str(mv.version)
        doc["provider"] = mv.provider
        doc["providers"] = mv.runtime.providers if mv.runtime else []
    if cfg:
        doc["max_batch_size"] = cfg.max_batch_size
        doc["labels"] = cfg.labels
        doc["description"] = cfg.description
    return doc


def model_metadata(repo: ModelRepository, name: str, version: str | None = None) -> dict[str, Any]:
    """Metadata of the latest ready version, or of the named one (also while it is not ready)."""
    entry = repo.entry(name)
    if version is None:
        newest = entry.versions[max(entry.versions)] if entry.versions else None
        return _document(entry, entry.latest_ready() or newest)
    try:
        mv = repo.get(name, version)
    except ModelUnavailable:
        mv = entry.versions[int(version)]
    return _document(entry, mv)
