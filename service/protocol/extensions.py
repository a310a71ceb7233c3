"""Triton's model-configuration and statistics extensions: JSON documents for HTTP and gRPC.

The documents use the field names of Triton's protobuf messages (snake case), so
HTTP returns them as they are and gRPC fills its messages from the same dicts.
"""

from __future__ import annotations

from typing import Any

from ..core.config import TensorSpec
from ..core.errors import ModelUnavailable
from ..core.repository import ModelRepository, ModelVersion, State
from ..core.statistics import Statistics


def _data_type(datatype: str) -> str:
    return "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"


def _input(spec: TensorSpec) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": spec.name, "data_type": _data_type(spec.datatype), "dims": spec.wire_dims}
    if not spec.dims:  # Triton's spelling of one number per item
        doc["reshape"] = {"shape": []}
    return doc


def _version(repo: ModelRepository, name: str, version: str | None) -> ModelVersion | None:
    """The version a request names (ready or not), else the latest ready, else the newest."""
    entry = repo.entry(name)
    if version is not None:
        try:
            return repo.get(name, version)
        except ModelUnavailable:
            return entry.versions[int(version)]
    if entry.config is None:
        raise ModelUnavailable(f"is {entry.state.value}: {entry.reason or 'no configuration'}", model=name, sep=" ")
    return entry.latest_ready() or (entry.versions[max(entry.versions)] if entry.versions else None)


def model_config_document(repo: ModelRepository, name: str, version: str | None = None) -> dict[str, Any]:
    """The served configuration, in the JSON form of Triton's ModelConfig message."""
    mv = _version(repo, name, version)
    cfg = mv.config if mv is not None else repo.entry(name).config
    assert cfg is not None
    policy = cfg.version_policy
    if policy.specific is not None:
        version_policy: dict[str, Any] = {"specific": {"versions": policy.specific}}
    elif policy.latest is not None:
        version_policy = {"latest": {"num_versions": policy.latest}}
    else:
        version_policy = {"all": {}}
    knobs = cfg.dynamic_batching
    provider = (mv.provider if mv is not None else None) or ""
    doc: dict[str, Any] = {
        "name": cfg.name,
        "platform": cfg.platform,
        "backend": "onnxruntime",
        "version_policy": version_policy,
        "max_batch_size": cfg.max_batch_size,
        "input": [_input(s) for s in cfg.input],
        "output": [{"name": s.name, "data_type": _data_type(s.datatype), "dims": list(s.dims)} for s in cfg.output],
        "instance_group": [{
            "name": f"{cfg.name}_0",
            "kind": "KIND_GPU" if provider.startswith("CUDA") else "KIND_CPU",
            "count": knobs.instance_count,
        }],
    }
    if cfg.response_cache.enable:
        doc["response_cache"] = {"enable": True}
    if cfg.batched:
        doc["dynamic_batching"] = {
            "max_queue_delay_microseconds": knobs.max_queue_delay_microseconds,
            "default_queue_policy": {
                "max_queue_size": knobs.max_queue_size,
                "default_timeout_microseconds": int(repo.settings.default_timeout_s * 1e6),
            },
        }
    return doc


def statistics_document(
    repo: ModelRepository, statistics: Statistics, name: str | None = None, version: str | None = None
) -> dict[str, Any]:
    """Statistics of every ready version (no name), every ready version of one model, or one version."""
    if name is not None and version is not None:
        mv = repo.get(name, version)
        return statistics.document([(name, str(mv.version))])
    names = [name] if name is not None else sorted(repo.models)
    pairs = []
    for model in names:
        entry = repo.entry(model)
        pairs += [(model, str(v)) for v, mv in sorted(entry.versions.items()) if mv.state is State.READY]
    return statistics.document(pairs)
