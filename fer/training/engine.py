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


@dataclass
class EpochState:
    """Where an epoch stands: the next batch and the running sums. A checkpoint taken inside an
    epoch holds it, so that a resumed epoch ends with the figures of an uninterrupted one."""
    batch: int = 0
    seen: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time (all its threads): how much of the machine it got


def batches_per_epoch(n_samples: int, batch_size: int) -> int:
    """Full batches of an epoch (the remainder is dropped), at least one."""
    return n_samples // batch_size or 1


def train_one_epoch(s: Step, data: EpochData, step0: int, at: EpochState | None = None,
                    after_batch: Callable[[EpochState], bool] | None = None,
                    on_progress: Callable[[dict], None] | None = None, progress_every: int = 20) -> dict:
    """The epoch's batches from ``at.batch`` on (a whole epoch when ``at`` is None; batch ``b`` is
    step ``step0 + b``), updating ``at``; ``after_batch(at)`` returning True stops it there. Returns loss, accuracy, images/s, seconds,
    steps done so far and whether the epoch is ``complete``. The caller puts the model in train
    mode (and frozen norms in eval mode) first."""
    at = at if at is not None else EpochState()
    n_batches = batches_per_epoch(len(data.order), data.batch_size)
    t0, seconds0 = time.perf_counter(), at.seconds
    c0, cpu0 = time.process_time(), at.cpu_seconds
    while at.batch < n_batches:
        b = at.batch
        x, target, y = _batch(s, data, b)
        logits, loss = _optimise(s, x, target, step0 + b)
        at.batch, at.seen = b + 1, at.seen + len(y)
        at.loss_sum += float(loss.detach()) * len(y)
        at.correct += int((logits.detach().argmax(1) == y).sum())
        at.seconds = seconds0 + time.perf_counter() - t0
        at.cpu_seconds = cpu0 + time.process_time() - c0
        if on_progress and (b % progress_every == 0 or b == n_batches - 1):
            on_progress({"batch": b + 1, "batches": n_batches, "loss": at.loss_sum / at.seen,
                         "images_per_s": at.seen / max(at.seconds, 1e-9)})
        if after_batch is not None and after_batch(at):
            break
    return summarise(at, n_batches)


def summarise(at: EpochState, n_batches: int) -> dict:
    return {"train_loss": at.loss_sum / max(at.seen, 1), "train_accuracy": at.correct / max(at.seen, 1),
            "images_per_s": at.seen / max(at.seconds, 1e-9), "seconds": at.seconds, "cpu_seconds": at.cpu_seconds,
            "steps": at.batch,
            "seen": at.seen, "complete": at.batch >= n_batches}
