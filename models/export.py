"""ONNX export (dynamo), ONNX Runtime parity check, and publishing into the model repository.

A model is published only if ONNX Runtime reproduces PyTorch on held-out
inputs at several batch sizes (and sequence lengths) within PARITY_TOLERANCE;
otherwise ExportError is raised and the repository is left untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

PARITY_TOLERANCE = 1e-5
VERSION = 1
_ORT_DATATYPES = {"tensor(float)": "FP32", "tensor(int64)": "INT64", "tensor(int32)": "INT32"}


class ExportError(RuntimeError):
    """The exported graph does not reproduce the PyTorch model, or does not match its config."""


def export_onnx(
    model: torch.nn.Module,
    example: tuple[torch.Tensor, ...],
    path: Path,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_shapes: tuple[dict[int, torch.export.Dim], ...],
) -> Path:
    """torch.onnx.export(dynamo=True) into one self-contained file (no external data)."""
    model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    quiet = io.StringIO()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            example,
            str(path),
            dynamo=True,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_shapes=dynamic_shapes,
            external_data=False,
            verbose=False,
        )
    if path.with_name(path.name + ".data").exists():
        raise ExportError(f"{path}: the exporter wrote external data; expected a single file")
    _strip_stack_traces(path)
    return path


def _strip_stack_traces(path: Path) -> None:
    """Drop the exporter's per-node Python stack traces.

    They hold absolute paths and line numbers of this checkout, so without this the
    same weights would give a different file (and sha256) on every machine and edit.
    """
    model = onnx.load(str(path))

    def clean(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            keep = [p for p in node.metadata_props if p.key != "pkg.torch.onnx.stack_trace"]
            del node.metadata_props[:]
            node.metadata_props.extend(keep)
            for attribute in node.attribute:
                for sub in [attribute.g, *attribute.graphs]:
                    clean(sub)

    clean(model.graph)
    for function in model.functions:
        clean(function)
    onnx.save(model, str(path))


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


@torch.no_grad()
def parity(
    model: torch.nn.Module, path: Path, cases: Sequence[tuple[torch.Tensor, ...]], input_names: Sequence[str]
) -> dict:
    """Largest |ONNX Runtime - PyTorch| over every output of every case."""
    model.eval()
    sess = session(path)
    worst, shapes = 0.0, []
    for case in cases:
        expected = model(*case)
        expected = expected if isinstance(expected, tuple) else (expected,)
        feeds = {name: tensor.numpy() for name, tensor in zip(input_names, case)}
        got = sess.run(None, feeds)
        for want, have in zip(expected, got):
            if tuple(want.shape) != have.shape:
                raise ExportError(f"{path.name}: ONNX output shape {have.shape}, PyTorch {tuple(want.shape)}")
            worst = max(worst, float(np.abs(want.numpy() - have).max()))
        shapes.append([list(t.shape) for t in case])
    return {"max_abs_diff": worst, "tolerance": PARITY_TOLERANCE, "input_shapes": shapes}


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tensor_spec(name: str, datatype: str, dims: list[int], axis_names: list | None = None,
                pad_value: float | None = None, description: str = "", *,
                value_range: tuple[float, float] | None = None, allowed_values: list[float] | None = None,
                length_of: str | None = None) -> dict:
    """One input/output declaration in the repository's config format (dims exclude batch).

    The value constraints (inputs only) let the server refuse, before batching,
    a value the graph cannot take: an id past the embedding, a length past the frames."""
    spec: dict = {"name": name, "datatype": datatype, "dims": dims}
    if axis_names is not None:
        spec["axis_names"] = axis_names
    if pad_value is not None:
        spec["pad_value"] = pad_value
    if value_range is not None:
        spec["value_range"] = list(value_range)
    if allowed_values is not None:
        spec["allowed_values"] = allowed_values
    if length_of is not None:
        spec["length_of"] = length_of
    if description:
        spec["description"] = description
    return spec


def check_io(config: dict, path: Path) -> None:
    """The declared names and datatypes must be exactly the graph's."""
    sess = session(path)
    for kind, nodes in (("input", sess.get_inputs()), ("output", sess.get_outputs())):
        graph = {n.name: _ORT_DATATYPES.get(n.type, n.type) for n in nodes}
        declared = {s["name"]: s["datatype"] for s in config[kind]}
        if graph != declared:
            raise ExportError(f"{config['name']}: config {kind} {declared} != graph {graph}")


def publish(
    model: torch.nn.Module,
    *,
    repository: Path,
    config: dict,
    example: tuple[torch.Tensor, ...],
    dynamic_shapes: tuple[dict, ...],
    parity_cases: Sequence[tuple[torch.Tensor, ...]],
) -> dict:
    """Export, check parity and I/O, then write <repo>/<name>/1/model.onnx and config.json.

    `config` is completed in place with provenance: parity figure, sha256 and size.
    Returns the provenance block.
    """
    name = config["name"]
    input_names = [s["name"] for s in config["input"]]
    output_names = [s["name"] for s in config["output"]]
    with tempfile.TemporaryDirectory() as tmp:
        staged = export_onnx(model, example, Path(tmp) / "model.onnx", input_names, output_names, dynamic_shapes)
        figure = parity(model, staged, parity_cases, input_names)
        if not figure["max_abs_diff"] <= PARITY_TOLERANCE:
            raise ExportError(
                f"{name}: ONNX Runtime differs from PyTorch by {figure['max_abs_diff']:.3g} "
                f"(tolerance {PARITY_TOLERANCE})"
            )
        check_io(config, staged)
        target = Path(repository) / name
        (target / str(VERSION)).mkdir(parents=True, exist_ok=True)
        final = target / str(VERSION) / "model.onnx"
        shutil.copyfile(staged, final)
    provenance = config.setdefault("provenance", {})
    provenance["parity"] = figure
    provenance["onnx"] = {
        "file": f"{VERSION}/model.onnx",
        "sha256": sha256_file(final),
        "size_bytes": final.stat().st_size,
        "exporter": f"torch {torch.__version__} torch.onnx.export(dynamo=True), external_data=False",
        "checked_with": f"onnxruntime {ort.__version__}",
    }
    (target / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return provenance


def update_provenance(model_dir: Path, **fields) -> dict:
    """Add figures measured after publishing (they are part of the model's record)."""
    path = Path(model_dir) / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["provenance"].update(fields)
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return config["provenance"]


def base_config(name: str, description: str, inputs: list[dict], outputs: list[dict], *, labels: list[str],
                preprocessing: dict, postprocessing: dict, warmup_length: int = 8) -> dict:
    """The fields every reference model shares (batching, warm-up, version policy)."""
    return {
        "name": name,
        "platform": "onnx_onnxv1",
        "description": description,
        "max_batch_size": 64,
        "dynamic_batching": {"max_queue_delay_microseconds": 500, "max_queue_size": 1024, "instance_count": 1},
        "input": inputs,
        "output": outputs,
        "warmup": {"batch_sizes": [1, 8, 64], "sequence_length": warmup_length},
        "version_policy": {"latest": 1},
        "labels": labels,
        "preprocessing": preprocessing,
        "postprocessing": postprocessing,
        "provenance": {},
    }
