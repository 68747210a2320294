"""Augmentation of whole batches as tensors, with every sample drawing its own parameters.

A torchvision v2 transform called on a batch draws one set of parameters for all of it, and
calling it per image costs ~0.8 ms an image on one core, more than a small CNN's step. Here the
geometry of every sample (RandomResizedCrop, horizontal flip) is one affine matrix, applied to
the batch in a single ``grid_sample``; RandAugment picks an operation per sample and runs each
operation once on the samples that drew it, with torchvision's own functional ops and magnitudes;
ColorJitter's brightness and contrast are per-sample factors.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

# RandAugment's operations and their magnitude at bin m of 31 (torchvision's RandAugment table).
def _magnitudes(m: int, size: int) -> dict[str, tuple[float, bool]]:
    frac = m / 30
    return {
        "identity": (0.0, False),
        "shear_x": (0.3 * frac, True), "shear_y": (0.3 * frac, True),
        "translate_x": (150.0 / 331.0 * size * frac, True), "translate_y": (150.0 / 331.0 * size * frac, True),
        "rotate": (30.0 * frac, True),
        "brightness": (0.9 * frac, True), "color": (0.9 * frac, True), "contrast": (0.9 * frac, True),
        "sharpness": (0.9 * frac, True),
        "posterize": (float(8 - int(round(m / 7.5))), False),
        "solarize": (1.0 - frac, False),
        "autocontrast": (0.0, False), "equalize": (0.0, False),
    }


def _apply_op(x: torch.Tensor, op: str, mag: float) -> torch.Tensor:
    """One RandAugment operation on a float batch in [0, 1] (N, C, H, W)."""
    if op == "identity":
        return x
    if op in ("shear_x", "shear_y", "translate_x", "translate_y", "rotate"):
        kw = dict(angle=0.0, translate=[0, 0], scale=1.0, shear=[0.0, 0.0])
        if op == "shear_x":
            kw["shear"] = [math.degrees(math.atan(mag)), 0.0]
        elif op == "shear_y":
            kw["shear"] = [0.0, math.degrees(math.atan(mag))]
        elif op == "translate_x":
            kw["translate"] = [int(mag), 0]
        elif op == "translate_y":
            kw["translate"] = [0, int(mag)]
        else:
            kw["angle"] = mag
        return TF.affine(x, **kw, interpolation=TF.InterpolationMode.NEAREST, fill=0.0)
    if op == "brightness":
        return TF.adjust_brightness(x, 1.0 + mag)
    if op == "color":
        return TF.adjust_saturation(x, 1.0 + mag) if x.shape[1] == 3 else x
    if op == "contrast":
        return TF.adjust_contrast(x, 1.0 + mag)
    if op == "sharpness":
        return TF.adjust_sharpness(x, 1.0 + mag)
    if op == "solarize":
        return TF.solarize(x, mag)
    if op == "autocontrast":
        return TF.autocontrast(x)
    # posterize and equalize work on 8-bit values
    u8 = (x * 255).round().to(torch.uint8)
    out = TF.posterize(u8, int(mag)) if op == "posterize" else TF.equalize(u8)
    return out.float() / 255


class BatchAugment:
    """Per-sample augmentation of a float batch in [0, 1]; ``__call__(x, generator)``."""

    def __init__(self, size: int, crop_scale=(0.8, 1.0), hflip: bool = True, randaugment_n: int = 2,
                 randaugment_m: int = 6, brightness: float = 0.2, contrast: float = 0.2):
        self.size = size
        self.crop_scale = tuple(crop_scale)
        self.hflip = hflip
        self.n = randaugment_n
        self.ops = _magnitudes(randaugment_m, size)
        self.brightness, self.contrast = brightness, contrast

    def geometry(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """RandomResizedCrop (area in crop_scale, aspect 3/4-4/3) and flip, resampled once."""
        n = x.shape[0]
        lo, hi = self.crop_scale
        if lo == hi == 1.0 and not self.hflip:
            return x
        r = lambda: torch.rand(n, generator=g, device=x.device)  # noqa: E731
        area = lo + (hi - lo) * r()
        log_ratio = math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * r()
        ratio = torch.exp(log_ratio) if (lo, hi) != (1.0, 1.0) else torch.ones(n, device=x.device)
        w = torch.sqrt(area * ratio).clamp(max=1.0)
        h = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = (1 - w) * (2 * r() - 1)
        cy = (1 - h) * (2 * r() - 1)
        flip = torch.where(r() < 0.5, -1.0, 1.0) if self.hflip else torch.ones(n, device=x.device)
        theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
        theta[:, 1, 1], theta[:, 1, 2] = h, cy
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def randaugment(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        names = list(self.ops)
        for _ in range(self.n):
            choice = torch.randint(len(names), (x.shape[0],), generator=g, device=x.device)
            sign = torch.rand(x.shape[0], generator=g, device=x.device) < 0.5
            out = x.clone()
            for k, op in enumerate(names):
                mag, signed = self.ops[op]
                for s in ((True, False) if signed else (False,)):
                    idx = torch.nonzero((choice == k) & (sign == s if signed else True)).flatten()
                    if len(idx):
                        out[idx] = _apply_op(x[idx], op, -mag if s else mag).clamp(0, 1)
            x = out
        return x

    def jitter(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        if self.brightness:
            f = 1 + self.brightness * (2 * torch.rand(n, 1, 1, 1, generator=g, device=x.device) - 1)
            x = x * f
        if self.contrast:
            f = 1 + self.contrast * (2 * torch.rand(n, 1, 1, 1, generator=g, device=x.device) - 1)
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * f + mean
        return x.clamp(0, 1)

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        x = self.geometry(x, g)
        if self.n:
            x = self.randaugment(x, g)
        return self.jitter(x, g)
