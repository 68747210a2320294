"""Which torch device a setting names here: ``auto`` (a GPU when there is one), ``cpu``, ``cuda``
or ``cuda:N``; ``FER_DEVICE`` wins over the name given."""
from __future__ import annotations

import os

import torch


def pick_device(name: str | None) -> torch.device:
    name = os.environ.get("FER_DEVICE") or name or "auto"
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name}: no CUDA device here; use cpu or auto")
    return torch.device(name)
