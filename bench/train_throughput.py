"""Training throughput: the trainer's loop against a bare PyTorch loop, in the same run.

    python bench/train_throughput.py [--batches 16] [--threads 1]

For each case (resnet18 at 112 px RGB, our fer_cnn at 48 px grayscale; convnext_tiny at 224 px
with AMP as well when CUDA is there) both loops train the same model with the same batch size and
optimizer on images already in memory. The trainer's loop (fer.training.engine.train_one_epoch)
does what a run does: per-sample batch augmentation, normalisation, label smoothing, EMA, the
learning-rate schedule; the bare loop only steps on ready float tensors. Each loop is timed over
``--batches`` batches after 3 warm-up batches (the steady state: the per-batch time no longer
changes after the first batch or two). One torch thread by default (``--threads``, in the JSON):
on 2 cores shared with other work, torch's two threads per op wait on each other and the figures
swing several-fold (resnet18's bare loop 40 images/s on one thread, 14 on two at load 5);
``--threads 2`` measures two on a quiet machine. Prints one JSON object on stdout, progress on
stderr; about 1.5 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer import models  # noqa: E402
from fer.training import engine  # noqa: E402
from fer.training.augment import BatchAugment  # noqa: E402


def log(*msg) -> None:
    print(time.strftime("%H:%M:%S"), *msg, file=sys.stderr, flush=True)


def case(backbone: str, size: int, channels: int, batch: int, batches: int, device: torch.device, amp: bool) -> dict:
    torch.manual_seed(0)
    n = batch * batches
    images = torch.randint(0, 256, (n, size, size, channels), dtype=torch.uint8, device=device)
    labels = torch.randint(0, 7, (n,), device=device)
    mean = torch.full((1, channels, 1, 1), 0.5, device=device)
    std = torch.full((1, channels, 1, 1), 0.25, device=device)
    amp_dtype = torch.bfloat16 if amp and device.type == "cuda" else None
    cl = device.type == "cuda" or backbone == "fer_cnn"

    def fresh():
        torch.manual_seed(0)
        m = models.build({"backbone": backbone, "channels": channels, "dropout": 0.2}).to(device)
        return m.to(memory_format=torch.channels_last) if cl else m

    # bare: the same model, batch and optimizer on ready tensors
    model = fresh()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ready = ((images.permute(0, 3, 1, 2).float() / 255 - mean) / std)
    ready = ready.contiguous(memory_format=torch.channels_last) if cl else ready
    ce = nn.CrossEntropyLoss()

    def bare_steps(k):
        model.train()
        for b in range(k):
            x, y = ready[b * batch:(b + 1) * batch], labels[b * batch:(b + 1) * batch]
            with torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else torch.autocast("cpu", enabled=False):
                loss = ce(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    log(f"{backbone}: bare loop, 3 warm-up + {batches} batches of {batch}")
    bare_steps(3)  # warm-up
    t = time.perf_counter()
    bare_steps(batches)
    bare = n / (time.perf_counter() - t)

    # the trainer's loop
    from timm.utils import ModelEmaV3

    model = fresh()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ema = ModelEmaV3(model, decay=0.999)
    aug = BatchAugment(size)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    g = torch.Generator(device=device).manual_seed(0)
    step = engine.Step(model=model, optimizer=opt, loss_fn=loss_fn, augment=aug, mean=mean, std=std, device=device,
                       lr_at=lambda s: [1e-3], ema=ema, amp_dtype=amp_dtype, channels_last=cl)
    model.train()
    log(f"{backbone}: the trainer's loop, 3 warm-up + {batches} batches of {batch}")
    engine.train_one_epoch(step, engine.EpochData(images, labels, torch.arange(3 * batch, device=device), batch, g),
                           0)  # warm-up
    stats = engine.train_one_epoch(step, engine.EpochData(images, labels, torch.arange(n, device=device), batch, g), 0)
    return {"backbone": backbone, "input": f"{size}px x{channels}", "batch": batch, "images": n,
            "trainer_images_per_s": round(stats["images_per_s"], 1), "bare_images_per_s": round(bare, 1),
            "ratio": round(stats["images_per_s"] / bare, 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=16, help="batches timed per loop, after 3 warm-up batches")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: steady figures on shared cores)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cases = [("resnet18", 112, 3, 64, 0.8), ("fer_cnn", 48, 1, 64, 0.6)]
    if device.type == "cuda":
        cases.append(("convnext_tiny", 224, 3, 64, None))
    out = []
    for backbone, size, ch, batch, target in cases:
        r = case(backbone, size, ch, batch, args.batches if device.type == "cpu" or backbone != "convnext_tiny"
                 else 50, device, amp=True)
        r["target_ratio"] = target
        out.append(r)
    print(json.dumps({"device": str(device), "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
                      "cpus": len(os.sched_getaffinity(0)), "torch_threads": torch.get_num_threads(),
                      "torch": torch.__version__, "python": platform.python_version(), "cases": out}, indent=2))


if __name__ == "__main__":
    main()
