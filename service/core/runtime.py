"""ONNX Runtime sessions: provider choice, config-vs-graph validation, execution.

onnxruntime-gpu falls back to the CPU provider *silently* when CUDA or cuDNN
cannot be loaded, so the provider we report is read back from the session
(`get_providers()`), never assumed from what we asked for.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from .config import ModelConfig, TensorSpec
from .datatypes import ORT_TO_KSERVE, numpy_dtype
from .errors import ConfigError, InvalidInput, ModelExecutionError, ProviderError
from .settings import Settings

log = logging.getLogger(__name__)

# ORT's own error class for "this input is invalid" (an index out of range, ...).
_ORT_INVALID_ARGUMENT = getattr(ort.capi.onnxruntime_pybind11_state, "InvalidArgument", ())

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def requested_providers(settings: Settings) -> list[Any]:
    available = ort.get_available_providers()
    cuda = (CUDA, {"device_id": settings.cuda_device_id})
    if settings.provider == "cpu":
        return [CPU]
    if settings.provider == "cuda":
        if CUDA not in available:
            raise ProviderError(
                f"provider=cuda but the installed onnxruntime offers only {available}; "
                "install the `gpu` extra (onnxruntime-gpu) instead of onnxruntime"
            )
        return [cuda, CPU]
    return [cuda, CPU] if CUDA in available else [CPU]


def session_options(settings: Settings) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = settings.inter_op_threads
    options.graph_optimization_level = _OPT_LEVELS[settings.graph_optimization_level]
    spin = "1" if settings.allow_spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    return options


def _shape_problem(spec: TensorSpec, graph_shape: list[Any], batched: bool) -> str | None:
    """Compare declared dims (plus batch axis) against the graph's shape."""
    declared = ([-1] if batched else []) + list(spec.dims)
    if len(declared) != len(graph_shape):
        return f"rank {len(declared)} (dims {declared}) but the graph has shape {graph_shape}"
    for axis, (want, have) in enumerate(zip(declared, graph_shape)):
        # Symbolic graph dims ("batch", None) accept anything we declare.
        if not (isinstance(have, int) and have > 0):
            continue
        if batched and axis == 0:
            return f"max_batch_size > 0 needs a dynamic batch axis, but the graph's axis 0 is fixed at {have}"
        if want != have:
            return f"dim {axis} = {want} but the graph has {have} (shape {graph_shape})"
    return None


def validate_against_session(config: ModelConfig, session: ort.InferenceSession) -> None:
    """Check the declared I/O against the real graph; raise ConfigError naming the mismatch."""
    where = f"model {config.name!r}"
    graph_inputs = {i.name: i for i in session.get_inputs()}
    graph_outputs = {o.name: o for o in session.get_outputs()}
    declared = {s.name for s in config.input}
    missing = sorted(set(graph_inputs) - declared)
    if missing:
        raise ConfigError(f"{where}: config.input lacks graph inputs {missing}")
    for kind, specs, graph in (("input", config.input, graph_inputs), ("output", config.output, graph_outputs)):
        for spec in specs:
            node = graph.get(spec.name)
            if node is None:
                raise ConfigError(
                    f"{where}: config.{kind} {spec.name!r} is not in the graph; expected one of {sorted(graph)}"
                )
            found = ORT_TO_KSERVE.get(node.type, node.type)
            if found != spec.datatype:
                raise ConfigError(
                    f"{where}: {kind} {spec.name!r} datatype: config says {spec.datatype}, graph has {found}"
                )
            problem = _shape_problem(spec, list(node.shape), config.batched)
            if problem:
                raise ConfigError(f"{where}: {kind} {spec.name!r} shape: {problem}")


class OrtRuntime:
    """One loaded ONNX model version. Thread-safe: ORT sessions allow concurrent run()."""

    def __init__(self, model_path: Path, config: ModelConfig, settings: Settings) -> None:
        self.config = config
        self.model_path = model_path
        # ORT resolves an external `model.onnx.data` next to the file by itself,
        # because we pass a path rather than bytes.
        try:
            self.session = ort.InferenceSession(
                str(model_path), sess_options=session_options(settings), providers=requested_providers(settings)
            )
        except ProviderError:
            raise
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph/NoSuchFile types
            # ORT quotes the absolute path; callers see reasons, so they get the repository-relative one.
            where = f"{model_path.parent.parent.name}/{model_path.parent.name}/{model_path.name}"
            raise ConfigError(f"model {config.name!r}: cannot load {model_path.name}: "
                              f"{str(exc).replace(str(model_path), where)}") from None
        self.providers: list[str] = self.session.get_providers()
        self.provider = self.providers[0]
        if settings.provider == "cuda" and self.provider != CUDA:
            raise ProviderError(
                f"model {config.name!r}: provider=cuda but the session runs on {self.providers}; "
                "CUDA 13 / cuDNN 9 libraries were probably not found"
            )
        validate_against_session(config, self.session)
        self.output_names = [o.name for o in config.output]
        self._use_io_binding = self.provider == CUDA

    def run(self, inputs: dict[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        """Execute one (batched) call, fetching `outputs` (None: all declared ones).
        ORT's InvalidArgument answers 400, anything else 500. String tensors go in and
        come out as `str` (validation.py decoded BYTES inputs once; encoders take `str`).

        The message quotes ORT, which may quote input values: the batcher only
        lets it reach a caller when that caller's request ran alone."""
        names = self.output_names if outputs is None else outputs
        try:
            if self._use_io_binding:
                results = self._run_bound(inputs, names)
            else:
                results = dict(zip(names, self.session.run(names, inputs)))
        except _ORT_INVALID_ARGUMENT as exc:
            raise InvalidInput(f"rejected the input: {exc}", model=self.config.name, sep=" ") from exc
        except Exception as exc:
            raise ModelExecutionError(f"failed to execute: {exc}", model=self.config.name, sep=" ") from exc
        return results

    def _run_bound(self, inputs: dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
        # On CUDA, binding copies each input to the device once and lets ORT
        # allocate outputs without an extra staging copy per run.
        binding = self.session.io_binding()
        for name, array in inputs.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(array))
        for name in names:
            binding.bind_output(name, "cpu")
        self.session.run_with_iobinding(binding)
        return dict(zip(names, binding.copy_outputs_to_cpu()))

    def warmup_inputs(self, batch_size: int) -> dict[str, np.ndarray]:
        """Inputs of the configured shapes, filled with ones (a valid id, mask and length)."""
        cfg = self.config
        inputs = {}
        for spec in cfg.input:
            dims = [cfg.warmup.sequence_length if d == -1 else d for d in spec.dims]
            shape = ([batch_size] if cfg.batched else []) + dims
            if spec.datatype == "BYTES":
                inputs[spec.name] = np.full(shape, "a", dtype=object)
            else:
                inputs[spec.name] = np.ones(shape, dtype=numpy_dtype(spec.datatype))
        return inputs

    def warmup(self) -> None:
        sizes = self.config.warmup.batch_sizes if self.config.batched else [1]
        for size in sizes:
            self.run(self.warmup_inputs(size))
        log.info("warmed up", extra={"model": self.config.name, "batch_sizes": sizes})
