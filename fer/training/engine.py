"""The training loop: one epoch, and the learning-rate schedule, in the manner of torchvision's
reference scripts (plain functions; the caller owns the model, optimizer and schedule). What a
step needs is a ``Step``; what an epoch visits is an ``EpochData``."""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

import torch


def cosine_lr(step: int, total: int, warmup: int, base: float, min_lr: float, cosine: bool = True) -> float:
    """Linear warm-up to ``base``, then cosine to ``min_lr`` (or constant)."""
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    if not cosine:
        return base
    t = (step - warmup) / max(1, total - warmup)
    return min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


@dataclass
class Step:
    """What one optimisation step needs; the caller owns all of it. ``model`` is what runs the
    forward pass (a DDP wrapper under torchrun); ``lr_at(step)`` gives each parameter group's rate."""
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Callable
    augment: Callable | None
    mean: torch.Tensor
    std: torch.Tensor
    device: torch.device
    lr_at: Callable[[int], list[float]]
    mixup: Callable | None = None
    ema: object | None = None
    scaler: object | None = None
    amp_dtype: torch.dtype | None = None
    channels_last: bool = False


@dataclass
class EpochData:
    """One epoch's data: uint8 N×H×W×C images and labels (on the device or not), the order to visit
    them in, the batch size, the generator the augmentation draws from, and optionally a soft
    target per image (N × classes, e.g. a teacher's; the loss then learns towards it)."""
    images: torch.Tensor
    labels: torch.Tensor
    order: torch.Tensor
    batch_size: int
    generator: torch.Generator
    targets: torch.Tensor | None = None


def _batch(s: Step, data: EpochData, b: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input, target, labels) of batch ``b``: augmented, normalised, mixed."""
    idx = data.order[b * data.batch_size:(b + 1) * data.batch_size]
    y = data.labels[idx].to(s.device, non_blocking=True)
    x = data.images[idx].to(s.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
    if s.augment is not None:
        x = s.augment(x, data.generator)
    x = (x - s.mean) / s.std
    if s.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    target = y if data.targets is None else data.targets[idx].to(s.device, non_blocking=True)
    if s.mixup is not None:
        x, target = s.mixup(x, y)
    return x, target, y


def _optimise(s: Step, x: torch.Tensor, target: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One step at ``step``'s learning rates; returns (logits, loss)."""
    for group, lr in zip(s.optimizer.param_groups, s.lr_at(step)):
        group["lr"] = lr
    with torch.autocast(s.device.type, dtype=s.amp_dtype) if s.amp_dtype else nullcontext():
        logits = s.model(x)
        loss = s.loss_fn(logits, target)
    s.optimizer.zero_grad(set_to_none=True)
    if s.scaler is not None:
        s.scaler.scale(loss).backward()
        s.scaler.step(s.optimizer)
        s.scaler.update()
    else:
        loss.backward()
        s.optimizer.step()
    if s.ema is not None:
        s.ema.update(s.model, step=step)
    return logits, loss


def train_one_epoch(s: Step, data: EpochData, step0: int, should_stop: Callable[[], bool] = lambda: False,
                    on_progress: Callable[[dict], None] | None = None, progress_every: int = 20) -> dict:
    """One pass over ``data.order``; returns loss, accuracy, images/s, seconds and steps taken.
    The caller puts the model in train mode (and frozen norms in eval mode) first."""
    n_batches = len(data.order) // data.batch_size or 1
    seen, loss_sum, correct, t0 = 0, 0.0, 0, time.perf_counter()
    step = step0
    for b in range(n_batches):
        if should_stop():
            break
        x, target, y = _batch(s, data, b)
        logits, loss = _optimise(s, x, target, step)
        step += 1
        seen += len(y)
        loss_sum += float(loss.detach()) * len(y)
        correct += int((logits.detach().argmax(1) == y).sum())
        if on_progress and (b % progress_every == 0 or b == n_batches - 1):
            on_progress({"batch": b + 1, "batches": n_batches, "loss": loss_sum / seen,
                         "images_per_s": seen / (time.perf_counter() - t0)})
    elapsed = time.perf_counter() - t0
    return {"train_loss": loss_sum / max(seen, 1), "train_accuracy": correct / max(seen, 1),
            "images_per_s": seen / max(elapsed, 1e-9), "seconds": elapsed, "steps": step - step0, "seen": seen}
