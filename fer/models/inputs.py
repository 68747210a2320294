"""What a model is fed: uint8 images normalised as its model.json says, and batched inference.

One normalisation for training, evaluation, prediction and Grad-CAM: ``uint8 / 255``, then
``(x - mean) / std`` per channel.
"""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def to_input(batch_u8: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """uint8 N×H×W×C → normalised float N×C×H×W."""
    x = batch_u8.permute(0, 3, 1, 2).float().div_(255)
    x = (x - mean) / std
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()


def norm_tensors(meta: dict, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of a model.json as 1×C×1×1 tensors on ``device``."""
    norm = meta["normalisation"]
    mean = torch.tensor(norm["mean"], dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std = torch.tensor(norm["std"], dtype=torch.float32, device=device).view(1, -1, 1, 1)
    return mean, std


def crop_input(crop: np.ndarray, meta: dict) -> torch.Tensor:
    """One uint8 crop (H×W or H×W×C) normalised as model.json says, 1×C×H×W."""
    batch = torch.from_numpy(np.array(crop, dtype=np.uint8).reshape(crop.shape[0], crop.shape[1], -1)[None])
    mean, std = norm_tensors(meta)
    return to_input(batch, mean, std, channels_last=False)


def tta_flip(meta: dict) -> bool:
    """Whether the model averages each face with its mirror image when it predicts (model.json's
    ``tta``); every consumer applies it, so figures are those of what users get."""
    return bool((meta.get("tta") or {}).get("flip"))


def temperature(meta: dict) -> float:
    """The temperature the model's probabilities are scaled with (model.json's ``calibration``,
    fitted on a validation split by ``fer.evaluation.calibration``); 1.0 when it has none."""
    t = (meta.get("calibration") or {}).get("temperature")
    return float(t) if t else 1.0


def served(meta: dict) -> dict:
    """How the model.json says its probabilities are made, as ``predict``'s keywords (flip TTA and
    temperature): the Predictor, evaluation and every bench pass them, with either runtime, so
    a figure is always that of what users get."""
    return {"flip": tta_flip(meta), "temperature": temperature(meta)}


def scale(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """Probabilities with their temperature applied: ``softmax(log p / T)`` (unchanged at T = 1).
    The log of the probabilities stands in for logits, so it works alike for a network, an
    ensemble (averaged probabilities) and flip TTA (the average of two)."""
    if temperature == 1.0:
        return probs
    return F.softmax(torch.log(probs.clamp_min(1e-12)) / temperature, dim=1)


def normalisation(model: nn.Module, channels: int) -> tuple[list[float], list[float]]:
    """The mean and std a backbone expects (its pretrained config), for 1 or 3 channels."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean, std = list(cfg.get("mean", (0.5,) * 3)), list(cfg.get("std", (0.25,) * 3))
    if channels == 1 and len(mean) != 1:
        mean, std = [float(np.mean(mean))], [float(np.mean(std))]
    if channels == 3 and len(mean) == 1:
        mean, std = mean * 3, std * 3
    return [float(m) for m in mean], [float(s) for s in std]


@torch.inference_mode()
def predict(model, images: np.ndarray | torch.Tensor, mean, std, device, batch_size: int = 256,
            channels_last: bool = False, flip: bool = False, amp_dtype=None, temperature: float = 1.0) -> np.ndarray:
    """Softmax probabilities (N × classes) for uint8 N×H×W×C images; ``flip`` averages in the
    mirrored image (test-time augmentation), then ``temperature`` scales them (``scale``).
    ``model`` is a PyTorch network or anything that takes its batch and gives logits or
    log-probabilities (``fer.models.onnx.OnnxClassifier``): both runtimes go through here."""
    model.eval()
    images = torch.as_tensor(images)
    device = torch.device(device)
    step = max(1, batch_size // 2) if flip else batch_size  # the image and its mirror go in one batch
    out = []
    for i in range(0, len(images), step):
        x = to_input(images[i:i + step].to(device), mean, std, channels_last)
        if flip:
            x = torch.cat([x, torch.flip(x, dims=[3])])
        with torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else nullcontext():
            p = F.softmax(model(x).float(), dim=1)
        if flip:
            n = len(p) // 2
            p = (p[:n] + p[n:]) / 2
        out.append(scale(p, temperature).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)
