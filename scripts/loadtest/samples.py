"""Real inputs for a model, chosen from its config.json.

- image models (an FP32 input of dims [1, 8, 8]): held-out UCI digits (CC BY 4.0), the
  last 20% of sklearn's load_digits, vendored in data/digits_heldout.npz so the client
  needs nothing the service does not install;
- sequence models (an FP32 input of dims [-1, 12]): the Japanese Vowels test
  set parsed from the aeon wheel's .ts files (models/data_vowels; optional);
- text models (preprocessing type "chars", or a BYTES input): 800 real sentences in 40
  languages (data/sentences.txt, Django's translations, BSD 3-Clause), tokenised with
  the config's vocabulary exactly as the service tokenises;
- `--input-file`: a .npy (first axis = items), a .npz (one array per input
  name), or a directory of PNG files;
- anything else: random tensors shaped from the config, labelled synthetic.

A SampleSet holds raw items (an image, a string, a [T, C] sequence) and knows
how to turn a list of them into the model's input tensors, so the OIP modes and
the friendly mode send the same data.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .payloads import numpy_dtype

DATA = Path(__file__).resolve().parent / "data"
DIGITS_SIZE = 8  # load_digits images are 8x8, one channel
VOWELS_CHANNELS = 12  # LPC cepstrum coefficients per frame
Encode = Callable[[list[Any]], dict[str, np.ndarray]]


@dataclass
class SampleSet:
    kind: str  # "image" | "sequence" | "text" | "tensor"
    source: str  # where the data came from, printed in every report
    items: list[Any]
    encode: Encode
    synthetic: bool = False

    def batches(self, batch_size: int, count: int) -> list[list[Any]]:
        """`count` batches of `batch_size` consecutive items, wrapping around the data."""
        n = len(self.items)
        return [[self.items[(b * batch_size + j) % n] for j in range(batch_size)] for b in range(count)]


# preprocessing.type -> kind, the names the service's friendly endpoints use (service/friendly/preprocess.py)
KINDS = {"image": "image", "sequence": "sequence", "chars": "text", "text": "text"}


def _pre(config: dict) -> dict:
    return config.get("preprocessing") or {}


def _input(config: dict, key: str, fits: Callable[[dict], bool]) -> dict | None:
    """The input named by preprocessing[key] (as the service reads it), else the first that fits."""
    name = _pre(config).get(key)
    named = next((s for s in config["input"] if s["name"] == name), None)
    return named or next((s for s in config["input"] if fits(s)), None)


def _is_float(spec: dict) -> bool:
    return spec["datatype"].startswith("FP")


def model_kind(config: dict) -> str:
    """What kind of data the model takes: its preprocessing.type, else judged from its inputs."""
    declared = KINDS.get(str(_pre(config).get("type", "")).lower())
    if declared:
        return declared
    first = config["input"][0]
    if first["datatype"] == "BYTES":
        return "text"
    if _is_float(first) and len(first["dims"]) == 3 and -1 not in first["dims"]:
        return "image"
    if _is_float(first) and len(first["dims"]) == 2 and first["dims"][0] == -1:
        return "sequence"
    return "tensor"


def load_samples(config: dict, input_file: str | Path | None = None, seed: int = 0) -> SampleSet:
    """The best real data for `config`; synthetic only when no dataset fits its inputs."""
    kind = model_kind(config)
    if input_file is not None:
        return _from_file(config, kind, Path(input_file))
    dims = (_image_input(config) if kind == "image" else _frames_input(config) if kind == "sequence" else {}).get("dims")
    if kind == "image" and dims in ([1, DIGITS_SIZE, DIGITS_SIZE], [DIGITS_SIZE, DIGITS_SIZE]):
        held = heldout_digits()
        return SampleSet("image", f"sklearn load_digits, last 20% ({len(held)} images, vendored)", list(held),
                         _image_encoder(config))
    if kind == "sequence" and dims and dims[-1] == VOWELS_CHANNELS:
        from models.data_vowels import load_vowels  # needs aeon's data files: `pip install --no-deps aeon==1.6.0`

        test = load_vowels("test")
        return SampleSet("sequence", f"Japanese Vowels test set ({len(test)} utterances)", test.sequences, _sequence_encoder(config))
    if kind == "text":
        texts = sentences()
        return SampleSet("text", f"real sentences in 40 languages ({len(texts)}, Django's translations)", texts,
                         _text_encoder(config))
    return synthetic_samples(config, seed)


def heldout_digits() -> np.ndarray:
    """The 360 held-out UCI digits as [N, 1, 8, 8] float32 in [0, 1] (pixel counts 0..16 / 16)."""
    with np.load(DATA / "digits_heldout.npz", allow_pickle=False) as archive:
        return (archive["images"] / 16.0).astype(np.float32)[:, None]


def sentences() -> list[str]:
    """The vendored sentences, one per line (comment lines skipped)."""
    lines = (DATA / "sentences.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def synthetic_samples(config: dict, seed: int = 0, count: int = 64) -> SampleSet:
    """Random tensors that match the declared inputs; never passed off as real data."""
    rng = np.random.default_rng(seed)
    length = (config.get("warmup") or {}).get("sequence_length", 8)
    items = []
    for _ in range(count):
        item = {}
        for spec in config["input"]:
            shape = [length if d == -1 else d for d in spec["dims"]]
            dtype = numpy_dtype(spec["datatype"])
            if spec["datatype"] == "BYTES":
                item[spec["name"]] = np.full(shape, b"sample", dtype=object)
            elif dtype.kind == "f":
                item[spec["name"]] = rng.random(shape).astype(dtype)
            else:  # ids, masks, lengths: 1 is valid for each
                item[spec["name"]] = np.ones(shape, dtype=dtype)
        items.append(item)
    source = "SYNTHETIC random tensors shaped from config.json (no dataset matched this model)"
    return SampleSet("tensor", source, items, _stack_encoder(config), synthetic=True)


def _stack_encoder(config: dict) -> Encode:
    names = [s["name"] for s in config["input"]]
    return lambda items: {n: np.stack([np.asarray(it[n]) for it in items]) for n in names}


def _image_input(config: dict) -> dict:
    return _input(config, "input", lambda s: _is_float(s) and len(s["dims"]) in (2, 3)) or config["input"][0]


def _frames_input(config: dict) -> dict:
    return _input(config, "input", lambda s: _is_float(s) and -1 in s["dims"]) or config["input"][0]


def _normaliser(config: dict) -> Callable[[np.ndarray], np.ndarray]:
    """(x - mean) / std when the config asks the service, not the graph, to normalise."""
    pre = _pre(config)
    if "mean" not in pre or "std" not in pre:
        return lambda x: x
    mean, std = np.asarray(pre["mean"], np.float32), np.asarray(pre["std"], np.float32)
    return lambda x: (x - mean) / std


def _image_encoder(config: dict) -> Encode:
    spec = _image_input(config)
    dims, normalise = spec["dims"], _normaliser(config)

    def encode(items: list[Any]) -> dict[str, np.ndarray]:
        arrays = [decode_png(it, dims) if isinstance(it, (bytes, bytearray)) else np.asarray(it) for it in items]
        batch = np.stack([a.reshape(dims) for a in arrays])
        if len(dims) == 3:  # mean/std are per channel: move channels last to broadcast, then back
            batch = np.moveaxis(normalise(np.moveaxis(batch, 1, -1)), -1, 1)
        return {spec["name"]: batch.astype(numpy_dtype(spec["datatype"]))}

    return encode


def _sequence_encoder(config: dict) -> Encode:
    frames_spec, normalise = _frames_input(config), _normaliser(config)
    pad = float(frames_spec.get("pad_value", 0.0))
    lengths_spec = _input(config, "lengths_input", lambda s: not _is_float(s) and s["dims"] in ([], [1]))
    mask_spec = _input(config, "mask_input", lambda s: not _is_float(s) and s["dims"] == [-1])

    def encode(items: list[Any]) -> dict[str, np.ndarray]:
        lengths = np.array([len(s) for s in items], dtype=np.int64)
        frames = np.full((len(items), int(lengths.max()), items[0].shape[1]), pad, dtype=np.float32)
        for row, seq in enumerate(items):
            frames[row, : len(seq)] = normalise(np.asarray(seq, np.float32))
        out = {frames_spec["name"]: frames.astype(numpy_dtype(frames_spec["datatype"]))}
        if lengths_spec is not None:
            out[lengths_spec["name"]] = lengths.reshape(len(items), *lengths_spec["dims"]).astype(
                numpy_dtype(lengths_spec["datatype"]))
        if mask_spec is not None:
            valid = np.arange(frames.shape[1])[None, :] < lengths[:, None]
            out[mask_spec["name"]] = valid.astype(numpy_dtype(mask_spec["datatype"]))
        return out

    return encode


def _text_encoder(config: dict) -> Encode:
    first = config["input"][0]
    if first["datatype"] == "BYTES":
        return lambda items: {first["name"]: np.array([t.encode("utf-8") for t in items], dtype=object)}
    pre = _pre(config)
    stoi = {token: i for i, token in enumerate(pre.get("vocab") or [])}
    unk, pad, cls_id = int(pre.get("unk_id", 1)), int(pre.get("pad_id", 0)), int(pre.get("cls_id", 2))
    add_cls = bool(pre.get("add_cls", False))
    room = int(pre.get("max_length", 1 << 30)) - (1 if add_cls else 0)

    def ids_of(text: str) -> list[int]:
        # The service's tokenizer (service/friendly/preprocess.py::tokenize), without importing the service.
        text = text.lower() if pre.get("lowercase") else text
        kept = text[-room:] if pre.get("truncation") == "left" else text[:room]
        return ([cls_id] if add_cls else []) + [stoi.get(ch, unk) for ch in kept] or [unk]

    tokens = _input(config, "tokens_input", lambda s: not _is_float(s) and -1 in s["dims"]) or first
    mask = _input(config, "mask_input", lambda s: s["name"] != tokens["name"] and -1 in s["dims"])

    def encode(items: list[Any]) -> dict[str, np.ndarray]:
        rows = [ids_of(t) for t in items]
        longest = max(len(r) for r in rows)
        ids = np.full((len(rows), longest), pad, dtype=np.int64)
        valid = np.zeros((len(rows), longest), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)], valid[i, : len(row)] = row, 1
        out = {tokens["name"]: ids.astype(numpy_dtype(tokens["datatype"]))}
        if mask is not None:
            out[mask["name"]] = valid.astype(numpy_dtype(mask["datatype"]))
        return out

    return encode


def decode_png(data: bytes, dims: list[int]) -> np.ndarray:
    """PNG bytes -> grayscale [0, 1] float32 of the model's [1, H, W], box-resized."""
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("L")
    height, width = dims[-2], dims[-1]
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BOX)
    return (np.asarray(image, dtype=np.float32) / 255.0).reshape(dims)


def _from_file(config: dict, kind: str, path: Path) -> SampleSet:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png")
        if not files:
            raise ValueError(f"--input-file {path}: a directory must contain .png files")
        if kind != "image":
            raise ValueError(f"--input-file {path}: PNG images, but model {config['name']!r} takes {kind} inputs")
        return SampleSet("image", f"{len(files)} PNG files from {path}", [f.read_bytes() for f in files], _image_encoder(config))
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            names = [s["name"] for s in config["input"]]
            missing = sorted(set(names) - set(archive.files))
            if missing:
                raise ValueError(f"--input-file {path}: missing arrays {missing}; it has {archive.files}")
            arrays = {n: archive[n] for n in names}
        items = [{n: a[i] for n, a in arrays.items()} for i in range(len(arrays[names[0]]))]
        return SampleSet("tensor", f"{len(items)} items from {path}", items, _stack_encoder(config))
    if path.suffix == ".npy":
        array = np.load(path, allow_pickle=False)
        if kind == "image":
            return SampleSet("image", f"{len(array)} images from {path}", list(array), _image_encoder(config))
        if len(config["input"]) != 1:
            raise ValueError(f"--input-file {path}: a .npy feeds one input; use .npz for {len(config['input'])} inputs")
        name = config["input"][0]["name"]
        return SampleSet("tensor", f"{len(array)} items from {path}", [{name: a} for a in array], _stack_encoder(config))
    raise ValueError(f"--input-file {path}: expected a .npy, a .npz or a directory of .png files")
