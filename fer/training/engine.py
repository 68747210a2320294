"""The training loop: one epoch, in the manner of torchvision's
reference scripts (plain functions; the caller owns the model, optimizer and schedule)."""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
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


def train_one_epoch(model, images: torch.Tensor, labels: torch.Tensor, order: torch.Tensor, *, batch_size: int,
                    optimizer, loss_fn, augment, generator: torch.Generator, mean, std, device,
                    lr_at: Callable[[int], list[float]], step0: int, mixup=None, ema=None, scaler=None,
                    amp_dtype=None, channels_last=False, should_stop: Callable[[], bool] = lambda: False,
                    on_progress: Callable[[dict], None] | None = None, progress_every: int = 20) -> dict:
    """One pass over ``order`` (indices into the uint8 ``images``); returns loss, accuracy, images/s.
    The caller puts the model in train mode (and frozen norms in eval mode) first."""
    n_batches = len(order) // batch_size or 1
    seen, loss_sum, correct, t0 = 0, 0.0, 0, time.perf_counter()
    step = step0
    for b in range(n_batches):
        if should_stop():
            break
        idx = order[b * batch_size:(b + 1) * batch_size]
        y = labels[idx].to(device, non_blocking=True)
        x = images[idx].to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
        if augment is not None:
            x = augment(x, generator)
        x = (x - mean) / std
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        target = y
        if mixup is not None:
            x, target = mixup(x, y)
        for group, lr in zip(optimizer.param_groups, lr_at(step)):
            group["lr"] = lr
        with torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else nullcontext():
            logits = model(x)
            loss = loss_fn(logits, target)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if ema is not None:
            ema.update(model, step=step)
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
