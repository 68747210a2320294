"""Detect and align every face of a dataset once, into one memory-mapped array.

``datasets/<name>/faces.npy`` (N × size × size × C, uint8, rows in manifest order) and
``faces.parquet`` (the box, score and landmarks each crop came from) sit beside the manifest;
``q_no_face`` marks rows where no face was found (they keep a centre crop). Images that are
already face crops skip detection: they are only resized, and never flagged as faceless (a
detector finds no face in a 48 px crop because the face *is* the image). A source holds crops when
(``crop_sources``):

- its format says so: FER2013 folders or CSV, CK+ with every image 48×48 (CK+48) — the import
  records this as ``crop.ready_made``; or
- every readable image of it is square and at most ``CROP_SIDE`` pixels: too small to hold a face
  smaller than the picture (a FER2013 or CK+48 copy re-packed as plain class folders).

The settings go into ``dataset.json`` as ``crop``, the face block a model trained on the dataset
carries.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

import cv2
import numpy as np
import pandas as pd

from fer import faces, store
from fer.data import dataset
from fer.data.formats import FORMATS
from fer.data.sources import Limits
from fer.store import Dataset
from fer.images import ImageError, fit_square, to_gray, to_rgb

DEFAULT_SIZE = 112
CROP_SIDE = 64  # pixels: a square image at most this big is a face crop, not a photo with a face in it
BATCH = 16
LANDMARK_COLUMNS = [f"{p}_{a}" for p in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right") for a in "xy"]


def face_block(detector: str | None, margin: float, size: int, grayscale: bool, align: bool = True) -> dict:
    """How faces were (or must be) prepared: the ``face`` block of model.json."""
    return {"detector": detector, "align": align, "margin": margin, "size": size, "grayscale": grayscale}


def crop_sources(info: dict, df: pd.DataFrame) -> set[str]:
    """The ids of the sources whose images are already face crops (the module's rule)."""
    if (info.get("crop") or {}).get("ready_made"):
        return set(info.get("sources", {})) | set(df["source"].unique())
    out = set()
    for sid in df["source"].unique():
        fmt = (info.get("sources", {}).get(sid) or {}).get("format")
        rows = df[(df["source"] == sid) & ~df["q_corrupt"]]
        declared = fmt in FORMATS and FORMATS[fmt].ready_made is not None
        small = len(rows) > 0 and bool(((rows["width"] == rows["height"]) & (rows["width"] <= CROP_SIDE)).all())
        if declared or small:
            out.add(sid)
    return out


def crop_rows(info: dict, df: pd.DataFrame) -> np.ndarray:
    """A boolean per manifest row: the row's image is a face crop already."""
    return df["source"].isin(crop_sources(info, df)).to_numpy()


def align_dataset(name: str, size: int | None = None, detector: str = "mtcnn", margin: float = 0.3,
                  grayscale: bool | None = None, device: str = "cpu",
                  progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Align every usable image of ``name``; returns the counts and the crop settings written."""
    if detector not in faces.METHODS:
        raise ValueError(f"detector {detector!r}: use one of {', '.join(faces.METHODS)}")
    info = dataset.info(name)
    df = dataset.manifest(name)
    crops = crop_rows(info, df)  # resized only, never detected
    ready = bool(crops.all())
    if ready:  # every image a crop: keep their size and colour unless told otherwise
        known = info.get("crop") or {}
        size = size or known.get("size") or int(df.loc[~df["q_corrupt"], "width"].max())
        grayscale = known.get("grayscale", bool((df["mode"] == "L").all())) if grayscale is None else grayscale
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
    limits = Limits.current()  # once, not per image

    def write_crops(tmp: str) -> None:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(df), size, size, channels))
        for start in range(0, len(todo), BATCH):
            rows = todo[start:start + BATCH]
            images = []
            for i in rows:
                try:
                    images.append(dataset.load_image(info, df["path"].iat[i], limits=limits))
                except (ImageError, OSError, KeyError):  # changed on disk since the import
                    images.append(None)
            for i, img in zip(rows, images):
                if img is not None and crops[i]:
                    out[i] = fit_square(to_gray(img) if grayscale else to_rgb(img), size, channels)
                    found[i] = True
            photos = [(i, img) for i, img in zip(rows, images) if not crops[i]]
            if photos:
                arrays = [to_rgb(img) if img is not None else np.zeros((1, 1, 3), np.uint8) for _, img in photos]
                for (i, _), rgb, dets in zip(photos, arrays, faces.detect_batch(arrays, detector, device=device)):
                    if dets:
                        f = dets[0]
                        crop = faces.align(rgb, f, size=size, margin=margin, grayscale=grayscale)
                        boxes[i], scores[i], found[i] = f.box, f.score, True
                        if f.landmarks is not None:
                            marks[i] = f.landmarks.reshape(-1)
                    else:
                        crop = faces.centre_crop(rgb, size=size, grayscale=grayscale)
                    out[i] = crop.reshape(size, size, channels)
            if progress:
                progress("align", min(start + BATCH, len(todo)), len(todo))
        out.flush()
        del out

    store.atomic_write(record.faces_path, write_crops)
    seconds = time.perf_counter() - t0

    table = pd.DataFrame({"path": df["path"], "found": found, "x1": boxes[:, 0], "y1": boxes[:, 1],
                          "x2": boxes[:, 2], "y2": boxes[:, 3], "score": scores})
    for k, col in enumerate(LANDMARK_COLUMNS):
        table[col] = marks[:, k]
    store.write_parquet(record.faces_table_path, table)
    df["q_no_face"] = ~found & ~corrupt
    store.write_parquet(record.manifest_path, df)  # an atomic rewrite: one derived column

    if ready and (info.get("crop") or {}).get("ready_made"):
        crop = {**info["crop"], "size": size, "grayscale": grayscale}
    elif ready:  # crops by size alone: how they were cut is unknown, so the face is taken as the image
        crop = {"ready_made": True, **face_block("mtcnn", 0.0, size, grayscale)}
    else:
        crop = face_block(detector, margin, size, grayscale)
    info["crop"] = crop
    info["faces"] = {
        "file": record.faces_path.name, "shape": [len(df), size, size, channels], "detected": not ready,
        "found": int(found.sum()), "no_face": int(df["q_no_face"].sum()), "skipped_corrupt": int(corrupt.sum()),
        "crops": int((crops & ~corrupt).sum()),
        "seconds": round(seconds, 1), "images_per_s": round(len(todo) / max(seconds, 1e-9), 1),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    info["checks"] = {**info.get("checks", {}), "q_no_face": int(df["q_no_face"].sum())}
    store.write_json(record.info_path, info)
    return info["faces"] | {"crop": crop}


PREVIEW_SIDE = 96  # pixels: smaller images are shown (and given to the detector) four times larger


def preview(info: dict, path: str, crop: bool, detector: str = "mtcnn", margin: float = 0.3,
            size: int = DEFAULT_SIZE) -> dict:
    """``preview_image`` of one image of a dataset."""
    return preview_image(to_rgb(dataset.load_image(info, path)), crop, detector, margin, size)


def preview_image(rgb: np.ndarray, crop: bool = False, detector: str = "mtcnn", margin: float = 0.3,
                  size: int = DEFAULT_SIZE) -> dict:
    """What aligning an RGB image makes of it: ``image`` (as shown), ``faces`` (the detector's,
    largest first; none for a crop), ``aligned`` (the crop training would use, or None when no
    face is found) and ``how`` (one line)."""
    shown = rgb
    if min(rgb.shape[:2]) < PREVIEW_SIDE:  # small: upscale for the eye, and so that the detector sees a face
        shown = cv2.resize(rgb, (rgb.shape[1] * 4, rgb.shape[0] * 4), interpolation=cv2.INTER_CUBIC)
    if crop:
        h, w = rgb.shape[:2]
        return {"image": shown, "faces": [], "aligned": fit_square(rgb, size, 3),
                "how": f"a face crop already ({w}×{h}): resized as it is, no detection, never flagged 'no face'"}
    found = faces.detect(shown, method=detector)
    if not found:
        return {"image": shown, "faces": [], "aligned": None,
                "how": "no face found: the image would keep a centre crop (q_no_face)"}
    return {"image": shown, "faces": found, "aligned": faces.align(shown, found[0], size=size, margin=margin),
            "how": f"{len(found)} face(s); the largest is cut with margin {margin:g}, eyes levelled"}


def describe(done: dict) -> str:
    """One line on what an alignment did (the command line and the job log print it)."""
    c = done["crop"]
    how = "resized ready-made crops" if not done["detected"] else (
        f"{c['detector']} detection, eyes levelled, margin {c['margin']}"
        + (f"; {done['crops']} ready-made crops resized" if done.get("crops") else ""))
    return (f"faces: {done['found']} aligned, {done['no_face']} without a face (centre crop, q_no_face), "
            f"{done['skipped_corrupt']} corrupt skipped; {how}; {c['size']}x{c['size']} "
            f"{'grayscale' if c['grayscale'] else 'RGB'}; {done['images_per_s']} images/s")


def load_faces(name: str, mmap: bool = True) -> np.ndarray | None:
    """The aligned crops of a dataset (memory-mapped), or None before alignment."""
    return Dataset(store.check_name(name, "dataset name")).faces(mmap)
