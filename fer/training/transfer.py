"""Transfer modes: which parameters train (frozen, partial, full), frozen norms, parameter groups.

Stages follow timm's ``feature_info``; the head is what comes after the last stage (final norm,
pre-logits) plus the classifier.
"""
from __future__ import annotations

import torch.nn as nn

from fer.models import ModelError


def _positions(model: nn.Module) -> tuple[dict[str, int], dict[str, int]]:
    """Forward-order positions: of every module, and of every parameter's module."""
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    params = {n: order[n.rsplit(".", 1)[0] if "." in n else ""] for n, _ in model.named_parameters()}
    return order, params


def _stage_ends(model: nn.Module) -> list[int]:
    """Where each stage ends in forward order. timm's ``feature_info`` names either a stage's
    container (ResNet ``layer3``, ConvNeXt ``stages.2``) or the layer a stage ends at (VGG's
    ``features.12``); either way a stage spans from the previous end to its own. Stages without
    parameters are merged into the next."""
    info = getattr(model, "feature_info", None) or []
    names = [e.get("module") for e in info if isinstance(e, dict) and e.get("module")]
    if not names:
        raise ModelError(f"{type(model).__name__}: no stages known; use model.transfer: full")
    order, params = _positions(model)
    ends = sorted({max(i for n, i in order.items() if n == s or n.startswith(s + ".")) for s in names})
    kept, prev = [], -1
    for end in ends:
        if any(prev < pos <= end for pos in params.values()):
            kept.append(end)
            prev = end
    return kept


def stage_count(model: nn.Module) -> int:
    return len(_stage_ends(model))


def head_parameters(model: nn.Module) -> list[str]:
    """Names of the parameters after the last stage (final norms, pre-logits) and the classifier's."""
    last = _stage_ends(model)[-1]
    _, params = _positions(model)
    classifier = {id(p) for p in model.get_classifier().parameters()}
    return [n for n, p in model.named_parameters() if params[n] > last or id(p) in classifier]


def set_transfer(model: nn.Module, mode: str, partial_stages: int = 1) -> None:
    """frozen: only the head trains; partial: the last N stages and the head; full: everything."""
    if mode not in ("frozen", "partial", "full"):
        raise ModelError(f"model.transfer={mode!r}: use frozen, partial or full")
    if mode == "full":
        for p in model.parameters():
            p.requires_grad = True
        return
    trainable = set(head_parameters(model))
    if mode == "partial":
        ends = _stage_ends(model)
        if not 1 <= partial_stages <= len(ends):
            raise ModelError(f"model.partial_stages={partial_stages}: this model has {len(ends)} stages")
        start = ends[-partial_stages - 1] if partial_stages < len(ends) else -1
        _, params = _positions(model)
        trainable |= {n for n, pos in params.items() if pos > start}
    for n, p in model.named_parameters():
        p.requires_grad = n in trainable


def freeze_norm_stats(model: nn.Module) -> None:
    """Batch norms whose parameters are all frozen keep their running statistics (eval mode)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters())
            if params and not any(p.requires_grad for p in params):
                m.eval()


def param_groups(model: nn.Module, lr: float, head_lr: float | None, weight_decay: float) -> list[dict]:
    """Backbone and head at their own learning rates; no weight decay on biases and norms."""
    head = set(head_parameters(model))
    groups: dict[tuple, list] = {}
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_head = n in head
        decay = p.ndim > 1
        groups.setdefault((is_head, decay), []).append(p)
    return [{"params": ps, "lr": (head_lr or lr) if is_head else lr, "weight_decay": weight_decay if decay else 0.0,
             "name": ("head" if is_head else "backbone") + ("" if decay else "_no_decay")}
            for (is_head, decay), ps in groups.items()]
