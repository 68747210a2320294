"""What training draws from a dataset: one epoch's sample order (plain or class-balanced) and the
check that every class of val and test occurs in train."""
from __future__ import annotations

import numpy as np
import torch

from fer.data.arrays import Split
from fer.data.stats import class_weights
from fer.labels import CLASSES


def epoch_indices(labels: np.ndarray, balanced: bool, g: torch.Generator) -> torch.Tensor:
    """One epoch of sample indices: a permutation, or draws weighted by N / (C · N_c)."""
    n = len(labels)
    if not balanced:
        return torch.randperm(n, generator=g)
    w = torch.as_tensor(class_weights(labels)[labels], dtype=torch.double)
    return torch.multinomial(w, n, replacement=True, generator=g)


def check_classes(splits: dict[str, Split]) -> None:
    """Every class that occurs in val or test must occur in train."""
    train = set(np.unique(splits["train"].labels))
    if not train:
        raise ValueError("the dataset has no usable training images")
    if not len(splits["val"]):
        raise ValueError("the dataset has no usable validation images")
    missing = {int(c) for s in ("val", "test") for c in np.unique(splits[s].labels)} - train
    if missing:
        raise ValueError(f"class(es) {', '.join(CLASSES[c] for c in sorted(missing))} missing from train")
