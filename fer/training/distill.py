"""Knowledge distillation from finished models: their probabilities on the train images become
soft targets for the model being trained (Hinton et al., 2015, offline form).

Each teacher predicts every train image and its mirror image once, before the first epoch; the
probabilities are averaged over the mirror pair and over the teachers, optionally softened by a
temperature, and mixed with the (label-smoothed) label:
``target = (1 - weight) · smooth(label) + weight · teachers``. The targets are fixed per image, so
the augmented copies of an image learn towards its clean prediction — cheap on a CPU (no teacher
forward pass per step) and, with a flip-averaged teacher, consistent under the mirror flip.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from fer import models, store
from fer.data import arrays
from fer.training.config import ConfigError


def resolve_teachers(refs: tuple[str, ...] | list[str]) -> list[store.ModelVersion]:
    """The model versions ``distill.teachers`` names (run ids, model names, name@version,
    ``default``); ``ConfigError`` naming the first that names nothing."""
    out = []
    for ref in refs:
        try:
            out.append(store.resolve_model(ref, allow_paths=False))
        except (store.ModelNotFound, ValueError) as e:
            raise ConfigError(f"distill.teachers: {e}") from None
    return out


def teacher_probabilities(refs, dataset: str, train_rows, device: torch.device,
                          log: Callable[[str], None] = print) -> np.ndarray:
    """N × classes: each teacher's probabilities on the train split of ``dataset`` (each image
    averaged with its mirror image), averaged over the teachers. ``train_rows`` are the student's
    train rows; every teacher must see the same images in the same order."""
    total = None
    for version in resolve_teachers(refs):
        net, meta = models.load(version.folder, device=str(device))
        train = arrays.load(dataset, int(meta["input_size"]), int(meta["channels"]))["train"]
        if not np.array_equal(train.rows["path"].to_numpy(), train_rows["path"].to_numpy()):
            raise ConfigError(f"distill.teachers: {version.ref} sees other train images than the run "
                              "(the dataset changed between the two loads); start the run again")
        mean, std = models.norm_tensors(meta, device)
        log(f"teacher {version.ref}: predicting {len(train)} train images and their mirror images")
        probs = models.predict(net, train.images, mean, std, device, flip=True).astype(np.float64)
        total = probs if total is None else total + probs
        del net
    return (total / len(refs)).astype(np.float32)


def soft_targets(labels: np.ndarray, teachers: np.ndarray, weight: float, temperature: float,
                 label_smoothing: float) -> np.ndarray:
    """N × classes targets: ``(1 - weight) · smoothed one-hot label + weight · tempered teachers``.
    Rows sum to 1."""
    n, c = teachers.shape
    tempered = np.power(np.clip(teachers, 1e-12, 1.0), 1.0 / temperature)
    tempered /= tempered.sum(1, keepdims=True)
    onehot = np.full((n, c), label_smoothing / c, np.float64)
    onehot[np.arange(n), labels] += 1.0 - label_smoothing
    return ((1.0 - weight) * onehot + weight * tempered).astype(np.float32)
