"""Export of the language-id Transformer: config, ONNX file, parity and padding-invariance checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.export import Dim

from . import cli
from .encoding import CharVocab
from .export import PARITY_TOLERANCE, ExportError, base_config, publish, session, tensor_spec, update_provenance

# Fine buckets: on one ORT thread a batch of 64 equal lengths costs 1.1x (64 characters) to
# 2.8x (8 characters) less per item than single runs, but a 20-character text padded to 64
# costs about twice its single run; real sentences spread evenly over 8-64 characters.
LENGTH_BUCKETS = [8, 12, 16, 20, 24, 28, 32, 40, 48, 56]


def padding_invariance(path: Path, vocab: CharVocab, texts: list[str]) -> float:
    """Largest change in any output when a text is run alone versus padded inside a longer batch."""
    sess = session(path)
    longest = max(texts, key=len)
    worst = 0.0
    for text in texts:
        alone = sess.run(None, dict(zip(("tokens", "mask"), vocab.encode_batch([text]))))
        padded = sess.run(None, dict(zip(("tokens", "mask"), vocab.encode_batch([text, longest]))))
        n = alone[1].shape[-1]
        worst = max(worst, float(np.abs(alone[0][0] - padded[0][0]).max()),
                    float(np.abs(alone[1][0] - padded[1][0][:, :, :n, :n]).max()))
    return worst


def export(model, vocab, encoder, test_texts, metrics, baseline, real_text, sources, args, name, defaults) -> dict:
    """Write config.json and model.onnx, check ORT against PyTorch and padding invariance; the provenance."""
    config = base_config(
        name, f"Character-level Transformer encoder ({args.layers} layers, {args.heads} heads, d={args.dim}) "
              "for multi-label language identification",
        [tensor_spec("tokens", "INT64", [-1], axis_names=["seq"], pad_value=vocab.pad_id,
                     value_range=(0, len(vocab) - 1), description="character ids from preprocessing.vocab"),
         tensor_spec("mask", "INT64", [-1], axis_names=["seq"], pad_value=0, allowed_values=[0, 1],
                     description="1 for real characters, 0 for padding")],
        [tensor_spec("probabilities", "FP32", [len(encoder)], description="independent sigmoid per language"),
         tensor_spec("attentions", "FP32", [args.layers, args.heads, -1, -1], axis_names=[None, None, "seq", "seq"],
                     description="softmax attention weights [layers, heads, query, key]; padded keys get 0")],
        labels=encoder.classes,
        preprocessing=vocab.to_config(),
        postprocessing={"type": "none", "output": "probabilities", "applied_in_graph": "sigmoid",
                        "multi_label": True, "threshold": args.threshold, "top_k": 5,
                        "attention_output": "attentions"},
        warmup_length=16,
    )
    # Batching by these buckets keeps a 5-character text from paying attention over a
    # 50-long padding, and a 40-character sentence from one padded to 64.
    config["dynamic_batching"]["length_buckets"] = LENGTH_BUCKETS
    data_record = {**sources, "languages": encoder.classes, "cldr_split": metrics["split"]}
    command = cli.command(name, args, defaults)
    config["provenance"] = {"data": data_record, "metrics": metrics, "training_command": command}
    if baseline:
        config["provenance"]["baseline"] = baseline
    if real_text:
        config["provenance"]["real_text_evaluation"] = {
            "source": real_text["source"], "sentences": real_text["sentences"], "words": real_text["words"],
            "top1": {k: {"sentences": v["sentences"]["top1"], "words": v["words"]["top1"]}
                     for k, v in real_text["detectors"].items() if not v.get("missing")}}
    by_length = sorted(test_texts, key=len)
    middle, spread = len(by_length) // 2, by_length[:: max(1, len(by_length) // 64)][:64]
    cases = [by_length[middle : middle + 1], by_length[-7:], spread]  # batch 1, 7 and 64 at mixed lengths
    batch, seq = Dim("batch", min=1, max=4096), Dim("seq", min=1, max=args.max_length)
    publish(
        model, repository=Path(args.repository), config=config,
        example=tuple(torch.from_numpy(a) for a in vocab.encode_batch(by_length[-4:])),
        dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}),
        parity_cases=[tuple(torch.from_numpy(a) for a in vocab.encode_batch(c)) for c in cases],
    )
    # The server pads to the longest request in a batch: prove that changes nothing.
    path = Path(args.repository) / name / "1" / "model.onnx"
    worst = padding_invariance(path, vocab, by_length[:: max(1, len(by_length) // 50)])
    if worst > PARITY_TOLERANCE:
        raise ExportError(f"{name}: outputs change by {worst:.3g} when padded (tolerance {PARITY_TOLERANCE})")
    return update_provenance(Path(args.repository) / name, padding_invariance_max_abs_diff=worst)
