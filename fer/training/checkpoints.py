"""Checkpoints of a run: everything a resumed run needs to go on as if it had never stopped.

A checkpoint holds the weights, the optimizer, the EMA, the counters (epoch, step, best epoch,
early stopping), where the epoch stands when it was taken inside one (the next batch and the
running sums), and the state of every random generator of every rank: Python's, NumPy's (timm's
mixup draws from it), torch's on the CPU and on CUDA (dropout) and the augmentation's. The epoch's
sample order needs none: it is drawn from (seed, epoch) alone, so the sampler is rebuilt exactly.

``save`` writes the new checkpoint beside ``last.pt`` first and only then keeps the old one as
``previous.pt``, so a whole checkpoint is always on disk. ``load`` reads with ``weights_only``
(no code is unpickled); a damaged ``last.pt`` is reported and ``previous.pt`` used; with neither
usable, ``CheckpointError`` says how to start the run again from scratch.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from fer import store
from fer.store import Run


class CheckpointError(ValueError):
    """No checkpoint of the run can be used: one line saying why and what to do."""


def rng_state(augment: torch.Generator) -> dict:
    """Every generator's state at this moment (tensors and plain values: loadable without pickle)."""
    _, key, pos, has_gauss, gauss = np.random.get_state()
    return {"python": random.getstate(),
            "numpy": {"key": torch.from_numpy(key.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                      "gauss": float(gauss)},
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "augment": augment.get_state()}


def restore_rng(state: dict, augment: torch.Generator) -> None:
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    augment.set_state(state["augment"])


def save(run: Run, checkpoint: dict) -> None:
    """``checkpoint`` as the run's ``last.pt``; the one it replaces becomes ``previous.pt``."""
    last, previous = run.checkpoint_path, run.previous_checkpoint_path

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # written through Python, a full disk is seen as the OSError it is
            try:
                torch.save(checkpoint, f)
            except RuntimeError as e:  # torch's zip writer stumbles on after the failed write
                if isinstance(e.__context__, OSError):
                    raise e.__context__ from None
                raise
            f.flush()
            os.fsync(f.fileno())  # on the disk before it replaces anything
        if last.exists():
            store.replace_file(last, previous)

    store.atomic_write(last, write)


def _why(e: Exception) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:160]}{'…' if len(text) > 160 else ''}"


def load(run: Run, apply: Callable[[dict], None]) -> tuple[Path | None, list[str]]:
    """Read the newest usable checkpoint and ``apply`` it (which may raise when it does not fit
    the run's model). Returns (the file used or None when the run has none, what was wrong with
    newer ones). ``CheckpointError`` when checkpoints exist and none can be used."""
    problems = []
    for path in (run.checkpoint_path, run.previous_checkpoint_path):
        if not path.exists():
            continue
        try:
            apply(torch.load(path, map_location="cpu", weights_only=True))
            return path, problems
        except Exception as e:  # truncated, random bytes, another model's: all mean "not this one"
            problems.append(f"{path.name} cannot be used ({_why(e)})")
    if problems:
        raise CheckpointError(f"run {run.id} cannot resume: {'; '.join(problems)}. Start it again from scratch: "
                              f"python -m fer train --resume {run.id} --fresh (or Start again on the Train page)")
    return None, problems
