"""A model version calibrated on a validation split: the same weights, with the temperature
fitted there (``fer.evaluation.temperature``) and, if asked, flip test-time augmentation, as a new
version of a named model.

    python -m fer model calibrate default@shipped-2 --dataset fer2013 --flip --name default

The probabilities are made as the model will serve them (its flip TTA, or the one asked for) at
temperature 1, with PyTorch; the fit and the split it was made on go into model.json's
``calibration`` block, which ``fer.models.predict`` applies on either runtime.
"""
from __future__ import annotations

import shutil

from fer import models, store
from fer.data import arrays
from fer.evaluation import temperature
from fer.store import ModelVersion, layout, resolve_model


def fitted(version: ModelVersion, dataset: str, split: str = "val", flip: bool | None = None) -> tuple[dict, bool]:
    """(the ``calibration`` block fitted on ``dataset``/``split``, the flip TTA it was fitted with)."""
    if split == "test":
        raise ValueError("fit the temperature on a validation split (val); the test split is where it is judged")
    net, meta = models.load(version.folder)
    flip = models.tta_flip(meta) if flip is None else bool(flip)
    data = arrays.load(dataset, meta["input_size"], meta["channels"])[split]
    if not len(data):
        raise ValueError(f"{dataset} has no usable {split} images to fit a temperature on")
    mean, std = models.norm_tensors(meta)
    probs = models.predict(net, data.images, mean, std, "cpu", flip=flip)  # temperature 1
    block = temperature.fit(data.labels, probs)
    block["fitted_on"] = {"dataset": dataset, "split": split, "n": len(data), "flip": flip,
                          "manifest_hash": arrays.manifest_hash(dataset)}
    return block, flip


def add_version(source: ModelVersion | str, dataset: str, split: str = "val", flip: bool | None = None,
                name: str | None = None) -> ModelVersion:
    """``source``'s weights with a temperature fitted on ``dataset``/``split`` (and ``flip`` TTA, or
    the source's), as a new current version of ``name`` (default: the source's model name)."""
    version = source if isinstance(source, ModelVersion) else resolve_model(source)
    target = name or (version.name if version.kind in ("version", "shipped") else None)
    if not target:
        raise ValueError(f"{version.ref} is not a named model: name the model to add the version to (--name)")
    block, flip = fitted(version, dataset, split, flip)
    meta = {**version.meta(), "tta": {"flip": flip}, "calibration": block,
            "calibrated_from": {"model": version.ref, "sha256": version.sha256()}}

    def fill(folder):
        shutil.copyfile(version.folder / layout.WEIGHTS, folder / layout.WEIGHTS)  # the same weights, byte for byte
        models.write_meta(folder, meta)

    return store.add_version(target, fill, {"calibrated_from": version.ref})
