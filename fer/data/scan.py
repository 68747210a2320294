"""Per-image facts, computed once at import: size, mode, brightness, contrast, hashes.

Work is split into chunks and spread over a process pool (every core); each worker opens the
source itself, so only names go in and a few numbers per image come back. A file that cannot
be decoded gives a row with ``error`` set, never an exception.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from multiprocessing import get_context
from typing import Iterable, Iterator

import cv2
import numpy as np

from fer.data.sources import Limits, SourceError, read_member
from fer.images import MAX_PIXELS, ImageError, open_image, to_gray

FIELDS = ("width", "height", "mode", "mean", "std", "sha1", "phash", "error")
CHUNK = 512

# pHash (the algorithm of imagehash.phash): a 32×32 thumbnail, its 2-D DCT (scipy.fftpack's
# unnormalised DCT-II), the 8×8 lowest frequencies compared with their median. Computed for a
# whole chunk at once with two matrix products; thumbnails by area averaging (OpenCV), which
# is ten times faster than Lanczos and as good for finding copies.
_N = 32
_DCT8 = 2.0 * np.cos(np.pi * np.outer(np.arange(8), 2 * np.arange(_N) + 1) / (2 * _N))
_BITS = (np.uint64(1) << np.arange(63, -1, -1, dtype=np.uint64))


def thumbnail(gray: np.ndarray) -> np.ndarray:
    return cv2.resize(gray, (_N, _N), interpolation=cv2.INTER_AREA)


def phashes(thumbs: np.ndarray) -> np.ndarray:
    """64-bit perceptual hashes (uint64) of a stack of 32×32 thumbnails."""
    low = _DCT8 @ thumbs.astype(np.float64) @ _DCT8.T  # (n, 8, 8)
    flat = low.reshape(len(thumbs), 64)
    bits = flat > np.median(flat, axis=1, keepdims=True)
    return (bits.astype(np.uint64) * _BITS).sum(axis=1, dtype=np.uint64)


def phash(gray: np.ndarray) -> int:
    return int(phashes(thumbnail(gray)[None])[0])


def fer_pixels(data: bytes) -> np.ndarray:
    """A FER2013 CSV pixel string ("70 80 82 ...") → 48×48 uint8; ``ImageError`` when malformed."""
    try:
        values = np.array(data.split(), dtype=np.int64)
    except ValueError:
        raise ImageError("bad pixel string: not all values are numbers") from None
    if values.size != 48 * 48:
        raise ImageError(f"bad pixel string: {values.size} values, expected 2304 (48x48)")
    if values.min() < 0 or values.max() > 255:
        raise ImageError("bad pixel string: values outside 0-255")
    return values.astype(np.uint8).reshape(48, 48)


def describe(data: bytes, max_pixels: int = MAX_PIXELS, pixels: bool = False) -> tuple[dict, np.ndarray | None]:
    """The facts of one image from its bytes (``pixels``: a FER2013 CSV pixel string), and its
    32×32 thumbnail for hashing (None when it could not be decoded)."""
    row = dict.fromkeys(FIELDS)
    try:
        if pixels:
            gray = fer_pixels(data)
            row["sha1"] = hashlib.sha1(gray.tobytes()).hexdigest()
            row.update(width=48, height=48, mode="L")
        else:
            row["sha1"] = hashlib.sha1(data).hexdigest()
            img = open_image(data, max_pixels)
            row.update(width=img.width, height=img.height, mode=img.mode)
            gray = to_gray(img)
        mean, std = cv2.meanStdDev(gray)
        row.update(mean=float(mean[0, 0]), std=float(std[0, 0]))
        return row, thumbnail(gray)
    except ImageError as e:
        row["error"] = str(e)
    except Exception as e:  # an unexpected decoder failure is still one corrupt file, not a crash
        row["error"] = f"cannot decode: {type(e).__name__}: {e}"
    return row, None


@lru_cache(maxsize=2)
def csv_pixels(location: str, kind: str, member: str, limits: Limits | None = None) -> list[bytes]:
    """The pixel strings of a FER2013 CSV, parsed once per process (a worker's chunks and the
    pages' thumbnails reuse them instead of reading the whole file per row)."""
    import io

    import pandas as pd

    df = pd.read_csv(io.BytesIO(read_member(location, kind, member, limits)), dtype=str, keep_default_na=False)
    df.columns = [c.strip().lower() for c in df.columns]
    return [s.encode() for s in df["pixels"]]


def _describe_one(location: str, kind: str, inner: str, max_pixels: int,
                  limits: Limits) -> tuple[dict, np.ndarray | None]:
    member, _, row = inner.rpartition("#")
    if row.isdigit() and member.lower().endswith(".csv"):
        return describe(csv_pixels(location, kind, member, limits)[int(row)], max_pixels, pixels=True)
    try:
        data = read_member(location, kind, inner, limits)
    except SourceError as e:  # over a size or ratio limit: one flagged row, the reason as it is
        row = dict.fromkeys(FIELDS)
        row["error"] = str(e)
        return row, None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:  # a damaged member is one corrupt row
        row = dict.fromkeys(FIELDS)
        row["error"] = f"cannot read: {e}"
        return row, None
    return describe(data, max_pixels)


def _describe_chunk(args) -> list[dict]:
    location, kind, inners, max_pixels, limits = args
    rows, thumbs = zip(*(_describe_one(location, kind, inner, max_pixels, limits) for inner in inners))
    hashed = [i for i, t in enumerate(thumbs) if t is not None]
    if hashed:
        for i, h in zip(hashed, phashes(np.stack([thumbs[i] for i in hashed]))):
            rows[i]["phash"] = int(h)
    return list(rows)


def scan(jobs: Iterable[tuple[str, str, list[str]]], max_pixels: int = MAX_PIXELS,
         workers: int | None = None, limits: Limits | None = None) -> Iterator[list[dict]]:
    """Describe images in parallel; ``jobs`` yields (location, kind, inner names) per source.
    Every file is read within ``limits`` (the settings' when None, read once here).

    Yields one list of rows per chunk, in order, so a caller can advance a progress bar.
    """
    limits = limits or Limits.current()
    tasks = [(loc, kind, inners[i:i + CHUNK], max_pixels, limits)
             for loc, kind, inners in jobs for i in range(0, len(inners), CHUNK)]
    workers = workers or len(os.sched_getaffinity(0))
    if workers <= 1 or len(tasks) <= 1:
        for t in tasks:
            yield _describe_chunk(t)
        return
    # fork: workers inherit the imported modules at once (the import path holds no threads or torch)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        yield from pool.map(_describe_chunk, tasks)
