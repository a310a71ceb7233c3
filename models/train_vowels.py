"""Speaker identification on UCI Japanese Vowels with an LSTM (or GRU) over raw cepstrum frames.

    python -m models.train vowels_lstm [--hidden 128] [--epochs 150]
    python -m models.train vowels_gru

Standard split: 270 training utterances (a validation part is carved from them
for early stopping) and 370 test utterances. Channel normalisation is computed
on the training part and baked into the graph, so clients send raw cepstra.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.export import Dim

from . import cli, results
from .data_vowels import (
    CHANNELS,
    SPEAKERS,
    VOWELS_SOURCE,
    channel_stats,
    load_vowels,
    pad_batch,
)
from .export import base_config, publish, tensor_spec
from .networks import SequenceClassifier
from .training import count_parameters, fit, minibatches, predict, set_seed, validation_split

# Only keys the server reads (service/core/config_blocks.py rejects others); remarks go in "notes".
PREPROCESSING = {
    "type": "sequence", "channels": CHANNELS,
    "lengths_input": "lengths", "min_length": 1, "max_length": 4096,
    "notes": {"padding": "right, with 0.0, to the longest in the batch",
              "normalisation": "per-channel (x - mean) / std is inside the graph "
                               "(provenance.graph_normalisation); send raw cepstra"},
}

DEFAULTS = {
    "cell": "lstm",             # lstm | gru
    "hidden": 128,
    "layers": 1,
    "dropout": 0.3,
    "bidirectional": False,     # adds a second RNN over each sequence reversed within its length
    "jitter": 0.1,              # Gaussian noise (in channel-std units) on frames during training
    "ema": 0.98,                # weight averaging; 0 disables (the 41-utterance validation set is noisy)
    "epochs": 150,
    "batch_size": 32,
    "lr": 3e-3,
    "weight_decay": 1e-4,
    "patience": 25,
    "val_fraction": 0.15,
    "seed": 0,
    "export": True,
    "repository": str(cli.REPOSITORY),
}
CHOICES = {"cell": ["lstm", "gru"]}
REFERENCE = {"test_accuracy": 0.97}


def tensors(sequences: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    frames, lengths = pad_batch(sequences)
    return torch.from_numpy(frames), torch.from_numpy(lengths)


def accuracy(model: torch.nn.Module, data) -> float:
    probs = predict(model, (tensors([data.sequences[i] for i in idx]) for idx in minibatches(len(data), 128)))
    return float((probs.argmax(1) == data.labels).mean())


def train(args) -> tuple[SequenceClassifier, dict]:
    set_seed(args.seed)
    full, test = load_vowels("train"), load_vowels("test")
    tr, va = validation_split(len(full), args.val_fraction, args.seed, full.labels)
    train_set, val_set = full.subset(tr), full.subset(va)
    model = SequenceClassifier(CHANNELS, len(SPEAKERS), cell=args.cell, hidden=args.hidden, layers=args.layers,
                               dropout=args.dropout, bidirectional=args.bidirectional)
    mean, std = channel_stats(train_set.sequences)
    model.set_normalisation(torch.from_numpy(mean), torch.from_numpy(std))
    labels = torch.from_numpy(train_set.labels)
    val_inputs, val_labels = tensors(val_set.sequences), torch.from_numpy(val_set.labels)
    generator = torch.Generator().manual_seed(args.seed)
    std_t = torch.from_numpy(std)

    def batches(rng):
        for idx in minibatches(len(train_set), args.batch_size, rng):
            frames, lengths = tensors([train_set.sequences[i] for i in idx])
            frames = frames + args.jitter * std_t * torch.randn(frames.shape, generator=generator)
            yield (frames, lengths), labels[idx]

    def loss_fn(m, inputs, target):
        return F.cross_entropy(m.logits(*inputs), target)

    def val_loss(m):
        return F.cross_entropy(m.logits(*val_inputs), val_labels).item()

    run = fit(model, batches, loss_fn, val_loss, epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay,
              patience=args.patience, seed=args.seed, desc=f"vowels_{args.cell}", ema=args.ema or None)
    metrics = {
        "test_accuracy": accuracy(model, test),
        "val_accuracy": accuracy(model, val_set),
        "test_size": len(test),
        "best_epoch": run.best_epoch,
        "epochs_run": run.epochs_run,
        "train_seconds": round(run.seconds, 1),
        "parameters": count_parameters(model),
        "split": {"method": "standard UCI split (JapaneseVowels_TRAIN.ts / _TEST.ts); validation: stratified "
                            f"{args.val_fraction} of train, random_state={args.seed}",
                  "train_size": len(train_set), "val_size": len(val_set), "test_size": len(test)},
    }
    metrics["normalisation"] = {"mean": [round(float(v), 6) for v in mean], "std": [round(float(v), 6) for v in std]}
    return model, metrics


def parity_cases(test) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Held-out utterances at batch sizes 1, 7 and 64, padded to different lengths."""
    order = np.argsort(test.lengths, kind="stable")
    shortest, longest = [test.sequences[i] for i in order[:1]], [test.sequences[i] for i in order[-7:]]
    mixed = test.sequences[:64]
    return [tensors(shortest), tensors(longest), tensors(mixed)]


def main(argv: Sequence[str] | None = None, name: str = "vowels_lstm") -> dict:
    cell = {"vowels_lstm": "lstm", "vowels_gru": "gru"}[name]
    defaults = {**DEFAULTS, "cell": cell}
    args = cli.parse(defaults, argv, f"models.train {name}", CHOICES)
    model, metrics = train(args)
    print(f"{name}: test accuracy {metrics['test_accuracy']:.4f} on {metrics['test_size']} utterances")
    record = {"name": name, "metrics": metrics, "reference": REFERENCE}
    if args.export:
        test = load_vowels("test")
        config = base_config(
            name, f"{args.cell.upper()} speaker identification on UCI Japanese Vowels (12 LPC cepstra per frame)",
            [tensor_spec("frames", "FP32", [-1, CHANNELS], axis_names=["time", None], pad_value=0.0,
                         description="raw LPC cepstrum frames, [time, 12]; padded frames are ignored"),
             tensor_spec("lengths", "INT64", [], length_of="time",
                         description="number of valid frames per utterance")],
            [tensor_spec("probabilities", "FP32", [len(SPEAKERS)], description="softmax over the 9 speakers")],
            labels=[f"speaker_{s}" for s in SPEAKERS],
            preprocessing=PREPROCESSING,
            postprocessing={"type": "none", "output": "probabilities", "applied_in_graph": "softmax", "top_k": 3},
            warmup_length=16,
        )
        config["provenance"] = {
            "data": {**VOWELS_SOURCE, "split": metrics["split"]},
            "metrics": {k: v for k, v in metrics.items() if k != "normalisation"},
            "graph_normalisation": metrics["normalisation"],
            "training_command": cli.command(name, args, defaults),
        }
        batch = Dim("batch", min=1, max=4096)
        record["provenance"] = publish(
            model, repository=Path(args.repository), config=config, example=tensors(test.sequences[:4]),
            dynamic_shapes=({0: batch, 1: Dim("time", min=1, max=4096)}, {0: batch}),
            parity_cases=parity_cases(test),
        )
    results.save(name, record)
    return record
