"""Emotions through a video file: every k-th frame, a timeline, annotated previews."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pandas as pd

from fer.draw import annotate
from fer.labels import CLASSES

VIDEO_EXTENSIONS = (".mp4", ".webm", ".avi", ".mov", ".mkv", ".m4v")


class VideoError(ValueError):
    pass


def is_video_name(name: str) -> bool:
    return str(name).lower().endswith(VIDEO_EXTENSIONS)


def probe(path: str | Path) -> dict:
    """Frames, fps and size of a video; ``VideoError`` when OpenCV cannot read it."""
    cap = cv2.VideoCapture(str(path))
    try:
        ok, frame = cap.read()
        if not cap.isOpened() or not ok:
            raise VideoError(f"{Path(path).name}: not a readable video (MP4, WebM, AVI)")
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        return {"frames": int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), "fps": float(fps),
                "width": frame.shape[1], "height": frame.shape[0]}
    finally:
        cap.release()


def analyse(path: str | Path, predictor, every: int = 5, previews: int = 6,
            progress: Callable[[int, int], None] | None = None) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """One row per face per analysed frame (frame, time, face, box, label, the seven
    probabilities; a frame without a face gives one row with no label), and a few annotated
    RGB frames spread over the video."""
    info = probe(path)
    total = max(info["frames"], 1)
    keep = set(np.linspace(0, max(total - 1, 0), num=previews, dtype=int) // every * every) if previews else set()
    cap = cv2.VideoCapture(str(path))
    rows, shots, index = [], [], 0
    try:
        while True:
            ok = cap.grab()
            if not ok:
                break
            if index % every == 0:
                ok, bgr = cap.retrieve()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                results = predictor.predict(rgb)
                t = index / info["fps"]
                if not results:
                    rows.append({"frame": index, "time": t, "face": None, "label": None})
                for k, r in enumerate(results):
                    rows.append({"frame": index, "time": t, "face": k, "x1": r.box[0], "y1": r.box[1], "x2": r.box[2],
                                 "y2": r.box[3], "label": r.label, **{c: r.probs[c] for c in CLASSES}})
                if index in keep:
                    shots.append(annotate(rgb, results))
                if progress:
                    progress(index + 1, total)
            index += 1
    finally:
        cap.release()
    if progress:
        progress(total, total)
    cols = ["frame", "time", "face", "x1", "y1", "x2", "y2", "label", *CLASSES]
    return pd.DataFrame(rows).reindex(columns=cols), shots
