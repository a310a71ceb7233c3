"""Digit classifiers on the UCI 8x8 digits: LeNet-style CNN, small ResNet, MLP baseline.

    python -m models.train digits_lenet [--activation elu] [--epochs 80] [--data idx:imgs.gz,labels.gz]
    python -m models.train digits_resnet
    python -m models.train digits_activations   # held-out accuracy per activation + MLP baseline
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.export import Dim

from . import cli, results
from .data_images import DIGIT_LABELS, DIGITS_MAX, DIGITS_SOURCE, load_image_data
from .export import base_config, publish, tensor_spec
from .networks import ACTIVATIONS, MLP, LeNet, ResNet
from .training import count_parameters, fit, minibatches, predict, set_seed, validation_split

DEFAULTS = {
    "arch": "lenet",            # lenet | resnet | mlp
    "activation": "relu",       # relu | leaky_relu | elu | tanh
    "width": 32,
    "epochs": 60,
    "batch_size": 64,
    "lr": 3e-3,
    "weight_decay": 1e-4,
    "patience": 15,
    "shift": 1,                 # random translation (pixels) as augmentation; 0 disables
    "val_fraction": 0.15,       # carved from the training split, for early stopping
    "test_fraction": 0.2,       # the fixed held-out split
    "split_seed": 0,
    "seed": 0,
    "data": "digits",           # or idx:<images>,<labels> (MNIST IDX, optionally .gz)
    "export": True,
    "repository": str(cli.REPOSITORY),
}
CHOICES = {"arch": ["lenet", "resnet", "mlp"], "activation": sorted(ACTIVATIONS)}
ARCHS = {"lenet": LeNet, "resnet": ResNet, "mlp": MLP}
# Per-model defaults on top of DEFAULTS: BatchNorm makes the ResNet's validation loss noisy at 3e-3.
MODELS = {"digits_lenet": {"arch": "lenet"}, "digits_resnet": {"arch": "resnet", "lr": 1e-3}}
REFERENCE = {"test_accuracy": 0.98, "better_cnn_test_accuracy": 0.99}  # the better CNN >= 99%, the other >= 98%


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to max_shift pixels, filling with background (0)."""
    if max_shift <= 0:
        return images
    n, side = images.shape[0], images.shape[-1]
    padded = F.pad(images, (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)
    out = torch.empty_like(images)
    for i in range(n):
        out[i] = padded[i, :, dy[i] : dy[i] + side, dx[i] : dx[i] + side]
    return out


def accuracy(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    probs = predict(model, ((torch.from_numpy(images[i]),) for i in minibatches(len(images), 256)))
    return float((probs.argmax(1) == labels).mean())


def train_classifier(args) -> tuple[torch.nn.Module, dict]:
    """Train one classifier on the fixed split; returns the model (best weights) and its metrics."""
    set_seed(args.seed)
    split = load_image_data(args.data, args.test_fraction, args.split_seed)
    num_classes = int(max(split.y_train.max(), split.y_test.max()) + 1)
    tr, va = validation_split(len(split.y_train), args.val_fraction, args.seed, split.y_train)
    x_tr, y_tr = torch.from_numpy(split.x_train[tr]), torch.from_numpy(split.y_train[tr])
    x_va, y_va = torch.from_numpy(split.x_train[va]), torch.from_numpy(split.y_train[va])
    sizes = {"width": args.width} if args.arch != "mlp" else {}
    model = ARCHS[args.arch](num_classes=num_classes, act=args.activation, **sizes)
    generator = torch.Generator().manual_seed(args.seed)

    def batches(rng):
        for idx in minibatches(len(y_tr), args.batch_size, rng):
            yield (random_shift(x_tr[idx], args.shift, generator),), y_tr[idx]

    def loss_fn(m, inputs, target):
        return F.cross_entropy(m.logits(*inputs), target)

    def val_loss(m):
        return F.cross_entropy(m.logits(x_va), y_va).item()

    run = fit(model, batches, loss_fn, val_loss, epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay,
              patience=args.patience, seed=args.seed, desc=f"{args.arch}/{args.activation}")
    metrics = {
        "test_accuracy": accuracy(model, split.x_test, split.y_test),
        "val_accuracy": accuracy(model, split.x_train[va], split.y_train[va]),
        "best_epoch": run.best_epoch,
        "epochs_run": run.epochs_run,
        "train_seconds": round(run.seconds, 1),
        "parameters": count_parameters(model),
    }
    metrics["split"] = split.record
    return model, metrics


def digits_config(name: str, description: str, num_classes: int) -> dict:
    # Only keys the server reads (service/core/config_blocks.py rejects others); remarks go in "notes".
    preprocessing = {
        "type": "image",
        "height": 8, "width": 8, "channels": 1, "layout": "CHW",
        "value_range": [0.0, 1.0],
        "scale": 1.0 / 255.0,
        "resize": "area",
        "background": "dark",
        "invert": "auto",
        "notes": {
            "scale": f"8-bit uploads are divided by 255; load_digits pixels 0..{DIGITS_MAX} were divided by {DIGITS_MAX}",
            "resize": "load_digits are 32x32 bitmaps box-averaged in 4x4 blocks; downscale uploads the same way",
            "invert": "ink must be bright on dark (as in load_digits and MNIST): invert (x -> 1 - x) "
                      "uploads with a light background, e.g. dark-on-white PNGs",
        },
    }
    postprocessing = {"type": "none", "output": "probabilities", "applied_in_graph": "softmax", "top_k": 3}
    return base_config(
        name, description,
        [tensor_spec("image", "FP32", [1, 8, 8], value_range=(0.0, 1.0),
                     description="grayscale 8x8, ink bright on dark, values in [0, 1]")],
        [tensor_spec("probabilities", "FP32", [num_classes], description="softmax over the labels (inside the graph)")],
        labels=DIGIT_LABELS[:num_classes] if num_classes <= 10 else [str(i) for i in range(num_classes)],
        preprocessing=preprocessing, postprocessing=postprocessing,
    )


def export_classifier(model: torch.nn.Module, name: str, description: str, metrics: dict, args, data: dict,
                      defaults: dict) -> dict:
    """Publish with parity checked on held-out digits at batch sizes 1, 7 and 64."""
    split = load_image_data(args.data, args.test_fraction, args.split_seed)
    config = digits_config(name, description, int(split.y_test.max() + 1))
    config["provenance"] = {"data": data, "metrics": metrics, "training_command": cli.command(name, args, defaults)}
    held_out = torch.from_numpy(split.x_test)
    return publish(
        model, repository=Path(args.repository), config=config, example=(held_out[:4],),
        dynamic_shapes=({0: Dim("batch", min=1, max=4096)},),
        parity_cases=[(held_out[:1],), (held_out[1:8],), (held_out[8:72],)],
    )


def main(argv: Sequence[str] | None = None, name: str = "digits_lenet") -> dict:
    defaults = {**DEFAULTS, **MODELS[name]}
    args = cli.parse(defaults, argv, f"models.train {name}", CHOICES)
    model, metrics = train_classifier(args)
    print(f"{name}: held-out accuracy {metrics['test_accuracy']:.4f} ({metrics['split']['test_size']} images)")
    record = {"name": name, "metrics": metrics, "reference": REFERENCE}
    if args.export:
        kind = {"lenet": "LeNet-style CNN", "resnet": "small residual CNN", "mlp": "MLP"}[args.arch]
        record["provenance"] = export_classifier(
            model, name, f"{kind} ({args.activation}) classifying 8x8 handwritten digits", metrics, args,
            {**DIGITS_SOURCE, "split": metrics["split"]} if args.data == "digits" else {"name": args.data}, defaults,
        )
    results.save(name, record)
    return record


def activation_table(argv: Sequence[str] | None = None) -> dict:
    """Held-out accuracy of the LeNet per activation, with the MLP baseline (same split, seed, budget)."""
    args = cli.parse(DEFAULTS, argv, "models.train digits_activations", CHOICES)
    started = time.perf_counter()
    rows = []
    for arch, act in [("lenet", a) for a in ACTIVATIONS] + [("mlp", "relu")]:
        args.arch, args.activation = arch, act
        _, metrics = train_classifier(args)
        rows.append({"arch": arch, "activation": act, **{k: metrics[k] for k in
                     ("test_accuracy", "val_accuracy", "best_epoch", "train_seconds", "parameters")}})
        print(f"{arch}/{act}: held-out accuracy {metrics['test_accuracy']:.4f}")
    record = {"name": "digits_activations", "rows": rows, "seconds": round(time.perf_counter() - started, 1)}
    results.save("digits_activations", record)
    return record
