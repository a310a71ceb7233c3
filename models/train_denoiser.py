"""Denoising conv autoencoder on the 8x8 digits (conv down, ConvTranspose up, sigmoid out).

    python -m models.train digits_denoiser [--noise-std 0.3] [--epochs 80]

Reports held-out reconstruction MSE against the clean image, next to the MSE of
the noisy input itself (what "doing nothing" scores).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.export import Dim

from . import cli, results
from .data_images import DIGITS_SOURCE, add_noise, load_image_data
from .export import base_config, publish, tensor_spec
from .networks import DenoisingAutoencoder
from .training import count_parameters, fit, minibatches, predict, set_seed, validation_split

DEFAULTS = {
    "width": 32,
    "activation": "relu",
    "noise_std": 0.3,           # Gaussian pixel noise on [0, 1] images, clipped back to [0, 1]
    "epochs": 80,
    "batch_size": 64,
    "lr": 3e-3,
    "weight_decay": 1e-5,
    "patience": 10,
    "val_fraction": 0.15,
    "test_fraction": 0.2,       # same fixed split as the classifiers
    "split_seed": 0,
    "seed": 0,
    "data": "digits",           # or idx:<images>,<labels>
    "export": True,
    "repository": str(cli.REPOSITORY),
}
NAME = "digits_denoiser"
# Only keys the server reads (service/core/config_blocks.py rejects others); remarks go in "notes".
PREPROCESSING = {
    "type": "image", "height": 8, "width": 8, "channels": 1, "layout": "CHW",
    "value_range": [0.0, 1.0], "scale": 1.0 / 255.0,
    "resize": "area", "background": "dark", "invert": "auto",
    "notes": {"scale": "8-bit uploads are divided by 255; load_digits pixels 0..16 were divided by 16"},
}
POSTPROCESSING = {"type": "image", "output": "reconstruction", "value_range": [0.0, 1.0],
                  "notes": {"encode": "PNG, grayscale, value * 255"}}


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a - b) ** 2))


def main(argv: Sequence[str] | None = None, name: str = NAME) -> dict:
    args = cli.parse(DEFAULTS, argv, f"models.train {name}")
    set_seed(args.seed)
    split = load_image_data(args.data, args.test_fraction, args.split_seed)
    tr, va = validation_split(len(split.y_train), args.val_fraction, args.seed, split.y_train)
    clean_tr = torch.from_numpy(split.x_train[tr])
    clean_va = split.x_train[va]
    noisy_va = torch.from_numpy(add_noise(clean_va, args.noise_std, seed=args.seed + 1))
    clean_va = torch.from_numpy(clean_va)
    clean_te = split.x_test
    noisy_te = add_noise(clean_te, args.noise_std, seed=args.seed + 2)  # fixed held-out corruption
    model = DenoisingAutoencoder(width=args.width, act=args.activation)
    generator = torch.Generator().manual_seed(args.seed)

    def batches(rng):
        for idx in minibatches(len(clean_tr), args.batch_size, rng):
            clean = clean_tr[idx]
            noisy = (clean + args.noise_std * torch.randn(clean.shape, generator=generator)).clamp(0.0, 1.0)
            yield (noisy,), clean

    def loss_fn(m, inputs, target):
        return F.mse_loss(m(*inputs), target)

    def val_loss(m):
        return F.mse_loss(m(noisy_va), clean_va).item()

    run = fit(model, batches, loss_fn, val_loss, epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay,
              patience=args.patience, seed=args.seed, desc=name)
    recon = predict(model, ((torch.from_numpy(noisy_te[i]),) for i in minibatches(len(noisy_te), 256)))
    metrics = {
        "test_mse_reconstruction_vs_clean": mse(recon, clean_te),
        "test_mse_noisy_input_vs_clean": mse(noisy_te, clean_te),
        "noise_std": args.noise_std,
        "best_epoch": run.best_epoch,
        "epochs_run": run.epochs_run,
        "train_seconds": round(run.seconds, 1),
        "parameters": count_parameters(model),
        "split": split.record,
    }
    metrics["error_reduction"] = 1.0 - metrics["test_mse_reconstruction_vs_clean"] / metrics[
        "test_mse_noisy_input_vs_clean"]
    print(f"{name}: held-out MSE {metrics['test_mse_reconstruction_vs_clean']:.5f} "
          f"(noisy input {metrics['test_mse_noisy_input_vs_clean']:.5f})")
    record = {"name": name, "metrics": metrics}
    if args.export:
        config = base_config(
            name, "Denoising convolutional autoencoder (Conv2d down, ConvTranspose2d up, sigmoid) for 8x8 digits",
            [tensor_spec("image", "FP32", [1, 8, 8], value_range=(0.0, 1.0),
                         description="noisy grayscale 8x8, ink bright on dark, in [0, 1]")],
            [tensor_spec("reconstruction", "FP32", [1, 8, 8], description="denoised image in [0, 1] (sigmoid)")],
            labels=[],
            preprocessing=PREPROCESSING, postprocessing=POSTPROCESSING,
        )
        config["provenance"] = {
            "data": {**DIGITS_SOURCE, "split": split.record, "noise": f"N(0, {args.noise_std}^2) clipped to [0, 1]"},
            "metrics": metrics,
            "training_command": cli.command(name, args, DEFAULTS),
        }
        record["provenance"] = publish(
            model, repository=Path(args.repository), config=config, example=(torch.from_numpy(noisy_te[:4]),),
            dynamic_shapes=({0: Dim("batch", min=1, max=4096)},),
            parity_cases=[(torch.from_numpy(noisy_te[s]),) for s in (slice(0, 1), slice(1, 8), slice(8, 72))],
        )
    results.save(name, record)
    return record
