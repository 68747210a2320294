"""Detect and align every face of a dataset once, into one memory-mapped array.

``datasets/<name>/faces.npy`` (N × size × size × C, uint8, rows in manifest order) and
``faces.parquet`` (the box, score and landmarks each crop came from) sit beside the manifest;
``q_no_face`` marks rows where no face was found (they keep a centre crop). Datasets of ready-made
crops (FER2013, CK+48) skip detection: their crops are only resized. The settings go into
``dataset.json`` as ``crop``, the face block a model trained on the dataset carries.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

import numpy as np
import pandas as pd

from fer import faces, store
from fer.data import dataset
from fer.store import Dataset
from fer.images import ImageError, fit_square, to_gray, to_rgb

DEFAULT_SIZE = 112
BATCH = 16
LANDMARK_COLUMNS = [f"{p}_{a}" for p in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right") for a in "xy"]


def face_block(detector: str | None, margin: float, size: int, grayscale: bool, align: bool = True) -> dict:
    """How faces were (or must be) prepared: the ``face`` block of model.json."""
    return {"detector": detector, "align": align, "margin": margin, "size": size, "grayscale": grayscale}


def align_dataset(name: str, size: int | None = None, detector: str = "mtcnn", margin: float = 0.3,
                  grayscale: bool | None = None, device: str = "cpu",
                  progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Align every usable image of ``name``; returns the counts and the crop settings written."""
    if detector not in faces.METHODS:
        raise ValueError(f"detector {detector!r}: use one of {', '.join(faces.METHODS)}")
    info = dataset.info(name)
    df = dataset.manifest(name)
    ready = (info.get("crop") or {}).get("ready_made", False)
    if ready:  # crops made by the dataset's authors: resize only, keep their colour and geometry
        size = size or info["crop"]["size"]
        grayscale = info["crop"]["grayscale"] if grayscale is None else grayscale
    size = size or DEFAULT_SIZE
    grayscale = bool(grayscale)
    if not 16 <= size <= 512:
        raise ValueError(f"face size {size}: use 16 to 512 pixels")
    channels = 1 if grayscale else 3
    record = Dataset(name)
    boxes = np.full((len(df), 4), np.nan, np.float32)
    scores = np.full(len(df), np.nan, np.float32)
    marks = np.full((len(df), 10), np.nan, np.float32)
    found = np.zeros(len(df), bool)
    corrupt = df["q_corrupt"].to_numpy()
    todo = np.flatnonzero(~corrupt)
    t0 = time.perf_counter()

    def write_crops(tmp: str) -> None:
        crops = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(df), size, size, channels))
        for start in range(0, len(todo), BATCH):
            rows = todo[start:start + BATCH]
            images = []
            for i in rows:
                try:
                    images.append(dataset.load_image(info, df["path"].iat[i]))
                except (ImageError, OSError, KeyError):  # changed on disk since the import
                    images.append(None)
            if ready:
                for i, img in zip(rows, images):
                    if img is not None:
                        crops[i] = fit_square(to_gray(img) if grayscale else to_rgb(img), size, channels)
                        found[i] = True
            else:
                arrays = [to_rgb(img) if img is not None else np.zeros((1, 1, 3), np.uint8) for img in images]
                for i, rgb, dets in zip(rows, arrays, faces.detect_batch(arrays, detector, device=device)):
                    if dets:
                        f = dets[0]
                        crop = faces.align(rgb, f, size=size, margin=margin, grayscale=grayscale)
                        boxes[i], scores[i], found[i] = f.box, f.score, True
                        if f.landmarks is not None:
                            marks[i] = f.landmarks.reshape(-1)
                    else:
                        crop = faces.centre_crop(rgb, size=size, grayscale=grayscale)
                    crops[i] = crop.reshape(size, size, channels)
            if progress:
                progress("align", min(start + BATCH, len(todo)), len(todo))
        crops.flush()
        del crops

    store.atomic_write(record.faces_path, write_crops)
    seconds = time.perf_counter() - t0

    table = pd.DataFrame({"path": df["path"], "found": found, "x1": boxes[:, 0], "y1": boxes[:, 1],
                          "x2": boxes[:, 2], "y2": boxes[:, 3], "score": scores})
    for k, col in enumerate(LANDMARK_COLUMNS):
        table[col] = marks[:, k]
    store.write_parquet(record.faces_table_path, table)
    df["q_no_face"] = ~found & ~corrupt
    store.write_parquet(record.manifest_path, df)  # an atomic rewrite: one derived column

    if ready:
        crop = {**info["crop"], "size": size, "grayscale": grayscale}
    else:
        crop = face_block(detector, margin, size, grayscale)
    info["crop"] = crop
    info["faces"] = {
        "file": record.faces_path.name, "shape": [len(df), size, size, channels], "detected": not ready,
        "found": int(found.sum()), "no_face": int(df["q_no_face"].sum()), "skipped_corrupt": int(corrupt.sum()),
        "seconds": round(seconds, 1), "images_per_s": round(len(todo) / max(seconds, 1e-9), 1),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    info["checks"] = {**info.get("checks", {}), "q_no_face": int(df["q_no_face"].sum())}
    store.write_json(record.info_path, info)
    return info["faces"] | {"crop": crop}


def describe(done: dict) -> str:
    """One line on what an alignment did (the command line and the job log print it)."""
    c = done["crop"]
    how = "resized ready-made crops" if not done["detected"] else (
        f"{c['detector']} detection, eyes levelled, margin {c['margin']}")
    return (f"faces: {done['found']} aligned, {done['no_face']} without a face (centre crop, q_no_face), "
            f"{done['skipped_corrupt']} corrupt skipped; {how}; {c['size']}x{c['size']} "
            f"{'grayscale' if c['grayscale'] else 'RGB'}; {done['images_per_s']} images/s")


def load_faces(name: str, mmap: bool = True) -> np.ndarray | None:
    """The aligned crops of a dataset (memory-mapped), or None before alignment."""
    return Dataset(store.check_name(name, "dataset name")).faces(mmap)
