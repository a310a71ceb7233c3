"""The training loop: seeding, minibatches, AdamW + cosine schedule, early stopping on validation loss.

Every family's script supplies two closures (one epoch of training batches,
and a validation loss) and gets back the best weights, restored in place.
"""

from __future__ import annotations

import copy
import math
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

THREADS = 2  # the reference machine has 2 cores; more threads only add contention


def set_seed(seed: int, threads: int = THREADS) -> None:
    """Fix every random source we use and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_flush_denormal(True)  # denormals can slow CPU kernels 10x late in training


def minibatches(n: int, batch_size: int, rng: np.random.Generator | None = None) -> Iterable[np.ndarray]:
    """Index arrays covering range(n); shuffled when an rng is given."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def validation_split(
    n: int, fraction: float, seed: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Carve a validation set out of the training indices (stratified when labels are given)."""
    from sklearn.model_selection import train_test_split

    index = np.arange(n)
    train, val = train_test_split(index, test_size=fraction, random_state=seed, stratify=labels)
    return np.sort(train), np.sort(val)


@dataclass
class FitResult:
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    seconds: float
    history: list[dict] = field(default_factory=list)


def fit(
    model: torch.nn.Module,
    train_batches: Callable[[np.random.Generator], Iterable[tuple[tuple[torch.Tensor, ...], torch.Tensor]]],
    loss_fn: Callable[[torch.nn.Module, tuple[torch.Tensor, ...], torch.Tensor], torch.Tensor],
    val_loss: Callable[[torch.nn.Module], float],
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 1e-4,
    patience: int = 10,
    seed: int = 0,
    desc: str = "train",
    clip: float | None = 1.0,
    ema: float | None = None,
    steps_per_epoch: int | None = None,
    warmup: float = 0.05,
    progress: bool = True,
    param_groups: list[dict] | None = None,
    fused: bool = False,
) -> FitResult:
    """Train until `epochs` or until validation loss has not improved for `patience` epochs.

    `train_batches(rng)` yields (inputs, target) for one epoch; `loss_fn(model, inputs, target)`
    returns a scalar. The best state (lowest validation loss) is restored before returning.
    With `ema` (e.g. 0.99) an exponential moving average of the weights is what gets
    validated and kept: on small data sets it smooths out the epoch-to-epoch noise.
    The learning rate follows a cosine decay over `epochs`; given `steps_per_epoch` it is
    updated every step, after a linear warm-up over the first `warmup` fraction of steps.
    """
    rng = np.random.default_rng(seed)
    # param_groups: per-group lr / weight_decay (e.g. faster embedding tables); the schedule scales every group.
    # fused: one kernel over all parameters instead of a dozen per tensor (cheaper language-id steps). Off by
    # default: it rounds differently, and the other reference models were built (byte-reproducibly) without it.
    optimizer = torch.optim.AdamW(param_groups or model.parameters(), lr=lr, weight_decay=weight_decay, fused=fused)
    total_steps = epochs * (steps_per_epoch or 1)
    ramp = int(total_steps * warmup) if steps_per_epoch else 0
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _cosine(step, total_steps, ramp))
    best_state, best_loss, best_epoch, stale = None, float("inf"), 0, 0
    history: list[dict] = []
    averaged = copy.deepcopy(model) if ema else None
    started = time.perf_counter()
    bar = tqdm(range(1, epochs + 1), desc=desc, unit="epoch", disable=not progress, leave=True)
    epoch = 0
    for epoch in bar:
        model.train()
        loss_sum, count = 0.0, 0
        for inputs, target in train_batches(rng):
            loss = loss_fn(model, inputs, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            if steps_per_epoch:
                schedule.step()
            if averaged is not None:
                _ema_update(averaged, model, ema)
            loss_sum += loss.item() * len(target)
            count += len(target)
        if not steps_per_epoch:
            schedule.step()
        judged = averaged if averaged is not None else model
        judged.eval()
        with torch.no_grad():
            current = float(val_loss(judged))
        train_loss = loss_sum / max(count, 1)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": current})
        if current < best_loss - 1e-6:
            best_state, best_loss, best_epoch, stale = copy.deepcopy(judged.state_dict()), current, epoch, 0
        else:
            stale += 1
        bar.set_postfix(loss=f"{train_loss:.4f}", val=f"{current:.4f}", best=best_epoch)
        if stale >= patience:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return FitResult(best_epoch, best_loss, epoch, time.perf_counter() - started, history)


def _cosine(step: int, total: int, ramp: int) -> float:
    if step < ramp:
        return (step + 1) / ramp
    progress = min(1.0, (step - ramp) / max(1, total - ramp))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


@torch.no_grad()
def _ema_update(averaged: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for avg, new in zip(averaged.parameters(), model.parameters()):
        avg.mul_(decay).add_(new.detach(), alpha=1.0 - decay)
    for avg, new in zip(averaged.buffers(), model.buffers()):
        avg.copy_(new)  # BatchNorm statistics and constants follow the live model


@torch.no_grad()
def predict(model: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, ...]], fn: str = "forward") -> np.ndarray:
    """Concatenate a method's first output over batches, in eval mode."""
    model.eval()
    outputs = []
    for inputs in batches:
        result = getattr(model, fn)(*inputs) if fn != "forward" else model(*inputs)
        outputs.append((result[0] if isinstance(result, tuple) else result).numpy())
    return np.concatenate(outputs)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
