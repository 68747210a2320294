"""A dataset of the store as uint8 arrays (what models are trained and evaluated on), split as the
manifest says.

Rows marked ``q_corrupt`` and rows the user excluded are left out. Aligned crops (faces.npy) are
used when the dataset has them; otherwise every image is decoded once (a centre square, resized)
and the array is cached beside the manifest, keyed by the manifest's hash and the input size.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fer import store
from fer.data import dataset, exclusions
from fer.data.sources import Limits
from fer.images import fit_square, to_gray, to_rgb


@dataclass
class Split:
    images: np.ndarray  # N × H × W × C uint8
    labels: np.ndarray  # N int64
    rows: pd.DataFrame  # the manifest rows, in the same order

    def __len__(self) -> int:
        return len(self.labels)


def manifest_hash(name: str) -> str:
    """The manifest and the user's decisions, hashed: which images a model was trained on."""
    d = dataset.record(name)
    h = hashlib.sha256(d.manifest_path.read_bytes())
    if d.exclusions_path.exists():
        h.update(d.exclusions_path.read_bytes())
    return h.hexdigest()[:16]


def _decode_all(name: str, rows: pd.DataFrame, size: int, channels: int, progress=None) -> np.ndarray:
    info = dataset.info(name)
    limits = Limits.current()  # once: reading the settings per image cost a third of the decode
    out = np.zeros((len(rows), size, size, channels), np.uint8)
    for k, path in enumerate(rows["path"]):
        img = dataset.load_image(info, path, limits=limits)
        out[k] = fit_square(to_gray(img) if channels == 1 else to_rgb(img), size, channels)
        if progress and k % 1000 == 0:
            progress("decode", k, len(rows))
    return out


def load(name: str, size: int, channels: int, progress=None) -> dict[str, Split]:
    """train / val / test of a dataset as uint8 arrays (decoded once, then cached)."""
    record = dataset.record(name)
    df = record.manifest().reset_index(drop=True)
    usable = exclusions.usable(df, name)
    faces = record.faces()
    if faces is not None and len(faces) == len(df):
        src = np.asarray(faces[usable.index.to_numpy()])
        if src.shape[1:] != (size, size, channels):
            src = np.stack([fit_square(a, size, channels) for a in src]) if len(src) else src.reshape(0, size, size, channels)
    else:
        cache = record.cache_path(size, channels, manifest_hash(name))
        if cache.exists():
            src = np.load(cache)
        else:
            src = _decode_all(name, usable, size, channels, progress)
            for old in record.old_caches(size, channels):
                old.unlink(missing_ok=True)

            def save(tmp: str) -> None:
                with open(tmp, "wb") as f:  # a file object: np.save would add ".npy" to a name
                    np.save(f, src)

            store.atomic_write(cache, save)
    out = {}
    labels = usable["label"].to_numpy(np.int64)
    for split in ("train", "val", "test"):
        mask = (usable["split"] == split).to_numpy()
        out[split] = Split(src[mask], labels[mask], usable[mask].reset_index(drop=True))
    return out


def prepare_one(name: str, path: str, size: int, channels: int) -> np.ndarray:
    """One image of a dataset as a model of this input sees it (its aligned crop when the
    dataset has them, else the decoded image's centre square), uint8 size × size × channels."""
    record = dataset.record(name)
    df = record.manifest()
    faces = record.faces()
    if faces is not None and len(faces) == len(df):
        row = int(np.flatnonzero((df["path"] == path).to_numpy())[0])
        return fit_square(np.asarray(faces[row]), size, channels)
    img = dataset.load_image(record.info(), path)
    return fit_square(to_gray(img) if channels == 1 else to_rgb(img), size, channels)
