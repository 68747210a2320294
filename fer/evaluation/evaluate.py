"""Evaluating a model version on a split of any dataset of the store: its summary and its
predictions per image, in the evaluation's folder (``fer.store.Evaluation``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fer import models, store
from fer.store import EVAL_SPLITS, Evaluation, ModelVersion, resolve_model
from fer.data import arrays
from fer.evaluation import metrics
from fer.labels import CLASSES

SPLIT_CHOICES = EVAL_SPLITS


def _device(device) -> torch.device:
    return torch.device(device) if not isinstance(device, torch.device) else device


def write_evaluation(model, meta: dict, data: arrays.Split, evaluation: Evaluation, device="cpu",
                     flip: bool = False, runtime: str = "torch") -> dict:
    """Predict ``data`` with ``model`` (a PyTorch network, or an onnxruntime session standing in
    for one: ``runtime``); write the summary and the per-image predictions into the evaluation's
    folder (with ``flip``: the test-time-augmented pair, beside the plain one). The summary names
    the model version (name, version, sha256 of its weights) and the runtime."""
    device = _device(device)
    mean, std = models.norm_tensors(meta, device)
    # the plain figure is the model as users get it: with its own test-time augmentation and
    # temperature, if any
    served = models.served(meta)
    served["flip"] = flip or served["flip"]
    probs = models.predict(model, data.images, mean, std, device, **served)
    probs = probs.reshape(len(data), len(CLASSES))
    summary = metrics.summary(data.labels, probs)
    summary.update({"dataset": evaluation.dataset, "split": evaluation.split, "flip_tta": served["flip"],
                    "temperature": served["temperature"], "runtime": runtime,
                    "model": meta.get("architecture"), "model_id": evaluation.model.identity(),
                    "manifest_hash": arrays.manifest_hash(evaluation.dataset)})
    rows = data.rows
    pred = pd.DataFrame({"path": rows["path"].to_numpy(), "split": rows["split"].to_numpy(),
                         "source": rows["source"].to_numpy(), "label": data.labels,
                         "prediction": probs.argmax(1) if len(probs) else np.zeros(0, np.int64)})
    for i, c in enumerate(CLASSES):
        pred[f"p_{c}"] = probs[:, i].astype(np.float32)
    summary_file, predictions_file = store.layout.evaluation_files(flip)
    store.write_parquet(evaluation.folder / predictions_file, pred)
    store.write_json(evaluation.folder / summary_file, summary)
    return summary


def network(version: ModelVersion, device: str = "cpu", runtime: str = "auto"):
    """(what runs the model, its model.json, the runtime): PyTorch's network, or an onnxruntime
    session in its place where ``runtime`` asks for one ("auto": where its export measured
    onnxruntime faster on a batch, ``fer.models.onnx.fastest``)."""
    if runtime == "auto":
        from fer.models import onnx

        runtime = onnx.fastest(version, device, case="batch")[0]
    if runtime == "onnx":
        from fer.models import onnx

        # a batch job: as many threads as PyTorch takes here (Predict and Live keep onnx.THREADS)
        return onnx.session(version, threads=torch.get_num_threads()), version.meta(), "onnx"
    net, meta = models.load(version.folder, device=device)
    return net, meta, "torch"


def evaluate_model(model: ModelVersion | str, dataset_name: str, split: str = "test", device: str = "cpu",
                   flip: bool = False, runtime: str = "auto") -> tuple[dict, Path]:
    """Evaluate a model version (or what ``resolve_model`` makes of a name: a run, a model, a
    folder, ``default``) on a dataset's split, on ``runtime`` (``network``). Returns the summary
    and the evaluation's folder."""
    if split not in SPLIT_CHOICES:
        raise ValueError(f"split {split!r}: use one of {', '.join(SPLIT_CHOICES)}")
    version = model if isinstance(model, ModelVersion) else resolve_model(model)
    net, meta, runtime = network(version, device, runtime)
    splits = arrays.load(dataset_name, meta["input_size"], meta["channels"])
    if split == "all":
        parts = [splits[s] for s in ("train", "val", "test")]
        chosen = arrays.Split(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]),
                              pd.concat([p.rows for p in parts], ignore_index=True))
    else:
        chosen = splits[split]
    if not len(chosen):
        raise ValueError(f"{dataset_name} has no usable {split} images")
    evaluation = Evaluation.for_model(version, dataset_name, split)
    if runtime == "onnx":
        device = "cpu"
    return write_evaluation(net, meta, chosen, evaluation, device=device, flip=flip, runtime=runtime), evaluation.folder
