"""Serve your own model: write a repository entry for an ONNX file, its config read from the graph.

    python -m service.scaffold path/to/model.onnx --repository my-models [--name N] [--max-batch-size 64]

writes `my-models/N/config.json` and `my-models/N/1/model.onnx`. ONNX Runtime reads
the graph (the service needs no `onnx` package): every input and tensor output with
its datatype and dims, symbolic axes as -1. When axis 0 of every input and output is
symbolic, it is taken as the batch axis: `max_batch_size` and `dynamic_batching` are
set and the dims exclude it; otherwise `max_batch_size` is 0 and each request runs
alone. Outputs that are not tensors (an sklearn ZipMap's sequence of maps) are left
out, because the protocol cannot carry them. The written entry is then loaded with
the server's own checks, so what this writes is what the server will serve.

What the graph cannot tell, the user adds by editing config.json: `labels`, a
`preprocessing` block (image, sequence or chars) for the friendly endpoints and the
playground, `postprocessing`, `axis_names` for variable axes that may be padded
together, and the checks (`value_range`, ...) that keep a bad value out of a batch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import onnxruntime as ort

from .core.config import CONFIG_FILENAME, ModelConfig, load_model_config
from .core.datatypes import ORT_TO_KSERVE
from .core.errors import ConfigError
from .core.repository import MODEL_FILE, NAME_PATTERN
from .core.runtime import validate_against_session

DEFAULT_MAX_BATCH_SIZE = 64


def model_name(path: Path) -> str:
    """A repository name from a file name: characters outside [A-Za-z0-9_.-] become '_'."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem).lstrip("_.-") or "model"
    return name[:128]


def _symbolic(dim: Any) -> bool:
    # ORT reports a symbolic axis as its name (str) or None; a fixed one as an int (0 is unknown too).
    return not (isinstance(dim, int) and dim > 0)


def _dims(shape: list[Any]) -> list[int]:
    return [-1 if _symbolic(d) else int(d) for d in shape]


def read_graph(path: Path) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT's own Fail/InvalidGraph/NoSuchFile types
        raise ConfigError(f"{path}: ONNX Runtime cannot load it: {exc}") from None


def infer_config(session: ort.InferenceSession, name: str, max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
                 source: str = "", sha256: str = "") -> tuple[dict[str, Any], list[str]]:
    """The config.json document for `session`, and the notes on what was left out or assumed."""
    notes: list[str] = []
    inputs = list(session.get_inputs())
    outputs = []
    for node in session.get_outputs():
        if node.type in ORT_TO_KSERVE:
            outputs.append(node)
        else:
            notes.append(f"output {node.name!r} left out: {node.type} is not a tensor the protocol can carry")
    for node in inputs:
        if node.type not in ORT_TO_KSERVE:
            raise ConfigError(f"input {node.name!r} is {node.type}, not a tensor: the protocol cannot send it")
    if not outputs:
        raise ConfigError("the graph has no tensor output to serve")
    nodes = inputs + outputs
    batched = max_batch_size > 0 and all(len(n.shape) >= 1 and _symbolic(n.shape[0]) for n in nodes)
    if max_batch_size > 0 and not batched:
        notes.append("max_batch_size 0: axis 0 is not symbolic in every input and output, so requests run alone")

    def spec(node: Any) -> dict[str, Any]:
        shape = list(node.shape)
        return {"name": node.name, "datatype": ORT_TO_KSERVE[node.type], "dims": _dims(shape[1:] if batched else shape)}

    meta = session.get_modelmeta()
    config: dict[str, Any] = {
        "name": name,
        "platform": "onnx_onnxv1",
        "description": meta.description or f"{Path(source).name or name}, graph {meta.graph_name!r}",
        "max_batch_size": max_batch_size if batched else 0,
    }
    if batched:
        config["dynamic_batching"] = {"max_queue_delay_microseconds": 500, "max_queue_size": 1024}
    config.update({
        "input": [spec(n) for n in inputs],
        "output": [spec(n) for n in outputs],
        "labels": [],
        "preprocessing": {},
        "provenance": {"source": source, "sha256": sha256, "producer": meta.producer_name,
                       "scaffolded_by": "python -m service.scaffold"},
    })
    variable = [s["name"] for s in config["input"] if -1 in s["dims"]]
    if variable:
        notes.append(f"variable axes (-1) in {variable}: such requests batch only with identical shapes "
                     "unless config.json names the axes (axis_names) that may be padded together")
    return config, notes


def to_json(config: dict[str, Any]) -> str:
    """Indented JSON with lists of plain values on one line (dims read as [-1, 12], not a column)."""
    text = json.dumps(config, indent=2, ensure_ascii=False)
    flat = re.compile(r"\[\n\s*((?:[^\[\]{}\n]+,\n\s*)*[^\[\]{}\n]+)\n\s*\]")
    return flat.sub(lambda m: "[" + ", ".join(v.strip().rstrip(",") for v in m.group(1).split("\n")) + "]", text) + "\n"


def scaffold(model: Path, repository: Path, name: str | None = None, max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
             force: bool = False) -> tuple[ModelConfig, list[str]]:
    """Write `<repository>/<name>/config.json` and `<repository>/<name>/1/model.onnx`; check them as the server does.

    A model or destination that cannot become an entry raises ConfigError (the service's one
    error for a model that cannot be served), its message saying why."""
    model, repository = Path(model), Path(repository)
    if not model.is_file():
        raise ConfigError(f"{model}: no such file")
    name = name or model_name(model)
    if not NAME_PATTERN.match(name):
        raise ConfigError(f"--name {name!r}: expected letters, digits, '_', '.', '-' (first a letter or digit)")
    entry = repository / name
    if (entry / CONFIG_FILENAME).exists() and not force:
        raise ConfigError(f"{entry / CONFIG_FILENAME} exists; pass --force to replace it")
    data = model.read_bytes()
    session = read_graph(model)
    config, notes = infer_config(session, name, max_batch_size, str(model), hashlib.sha256(data).hexdigest())
    (entry / "1").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, entry / "1" / MODEL_FILE)
    (entry / CONFIG_FILENAME).write_text(to_json(config), encoding="utf-8")
    try:
        loaded = load_model_config(entry)
        validate_against_session(loaded, read_graph(entry / "1" / MODEL_FILE))
    except ConfigError as exc:  # e.g. external data that stayed behind
        raise ConfigError(f"the written entry does not load: {exc}") from None
    return loaded, notes


def _describe(config: ModelConfig) -> list[str]:
    lines = [f"  input  {s.name}: {s.datatype} {s.dims}" for s in config.input]
    lines += [f"  output {s.name}: {s.datatype} {s.dims}" for s in config.output]
    batching = f"dynamic batching up to {config.max_batch_size}" if config.batched else "no batch axis"
    return [f"  {batching}", *lines]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.scaffold", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="the .onnx file")
    parser.add_argument("--repository", type=Path, required=True, help="the model repository to write into")
    parser.add_argument("--name", help="the model's name (default: from the file name)")
    parser.add_argument("--max-batch-size", type=int, default=DEFAULT_MAX_BATCH_SIZE,
                        help="when axis 0 is symbolic (0: never batch)")
    parser.add_argument("--force", action="store_true", help="replace an existing config.json")
    args = parser.parse_args(argv)
    try:
        config, notes = scaffold(args.model, args.repository, args.name, args.max_batch_size, args.force)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    entry = args.repository / config.name
    print(f"wrote {entry / CONFIG_FILENAME} and {entry / '1' / MODEL_FILE}")
    print("\n".join(_describe(config)))
    for note in notes:
        print(f"note: {note}")
    print(f"next: add labels and a preprocessing block to {entry / CONFIG_FILENAME} if you want them, "
          f"then: python -m service --repository {args.repository}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
