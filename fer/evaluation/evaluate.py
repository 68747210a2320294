"""Evaluating a model on a split of any dataset of the store: summary.json + predictions.parquet."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fer import models, store
from fer.data import arrays
from fer.evaluation import metrics
from fer.labels import CLASSES

SPLIT_CHOICES = ("test", "val", "train", "all")


def _device(device) -> torch.device:
    return torch.device(device) if not isinstance(device, torch.device) else device


def write_evaluation(model, meta: dict, split: arrays.Split, dataset_name: str, split_name: str, out_dir: Path,
                     device="cpu", flip: bool = False) -> dict:
    """Predict ``split`` with ``model``; write summary.json and predictions.parquet into ``out_dir``
    (with ``flip``: summary_flip.json and predictions_flip.parquet, the test-time-augmented figure
    beside the plain one)."""
    device = _device(device)
    mean, std = models.norm_tensors(meta, device)
    probs = models.predict(model, split.images, mean, std, device, flip=flip)
    probs = probs.reshape(len(split), len(CLASSES))
    summary = metrics.summary(split.labels, probs)
    summary.update({"dataset": dataset_name, "split": split_name, "flip_tta": flip,
                    "model": meta.get("architecture"), "manifest_hash": arrays.manifest_hash(dataset_name)})
    rows = split.rows
    pred = pd.DataFrame({"path": rows["path"].to_numpy(), "split": rows["split"].to_numpy(),
                         "source": rows["source"].to_numpy(), "label": split.labels,
                         "prediction": probs.argmax(1) if len(probs) else np.zeros(0, np.int64)})
    for i, c in enumerate(CLASSES):
        pred[f"p_{c}"] = probs[:, i].astype(np.float32)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "_flip" if flip else ""
    store.write_parquet(out_dir / f"predictions{suffix}.parquet", pred)
    store.write_json(out_dir / f"summary{suffix}.json", summary)
    return summary


def evaluate_model(model_x: str, dataset_name: str, split: str = "test", device: str = "cpu",
                   flip: bool = False) -> tuple[dict, Path]:
    """Evaluate a run, named model or model folder (``models.resolve``) on a dataset's split."""
    if split not in SPLIT_CHOICES:
        raise ValueError(f"split {split!r}: use one of {', '.join(SPLIT_CHOICES)}")
    folder = models.resolve(model_x)
    model, meta = models.load(folder, device=device)
    splits = arrays.load(dataset_name, meta["input_size"], meta["channels"])
    if split == "all":
        parts = [splits[s] for s in ("train", "val", "test")]
        chosen = arrays.Split(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]),
                            pd.concat([p.rows for p in parts], ignore_index=True))
    else:
        chosen = splits[split]
    if not len(chosen):
        raise ValueError(f"{dataset_name} has no usable {split} images")
    out = eval_root(model_x) / dataset_name / split
    return write_evaluation(model, meta, chosen, dataset_name, split, out, device=device, flip=flip), out


def launch(model_x: str, dataset_name: str, split: str = "test", flip: bool = False, device: str = "cpu") -> Path:
    """Queue an evaluation as a job (what the Evaluate page does); returns its job folder."""
    import sys

    from fer import jobs

    if split not in SPLIT_CHOICES:
        raise ValueError(f"split {split!r}: use one of {', '.join(SPLIT_CHOICES)}")
    models.resolve(model_x)  # a clear error now, not in the job's log
    folder = store.jobs_dir() / jobs.new_id()
    cmd = [sys.executable, "-m", "training.evaluate", "--run", model_x, "--dataset", dataset_name, "--split", split,
           "--device", device, "--job", str(folder)] + (["--flip"] if flip else [])
    return jobs.submit(folder, cmd, kind="evaluate")


def eval_root(model_x: str) -> Path:
    """Where the evaluations of a model live: its run or model folder's ``eval/``, or ``evals/<model>/``."""
    folder = models.resolve(model_x).resolve()
    inside = any(p in folder.parents for p in (store.runs_dir().resolve(), store.models_dir().resolve()))
    return folder / "eval" if inside else store.root() / "evals" / (model_x if store.NAME_RE.match(model_x)
                                                                       else folder.name)
