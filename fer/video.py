"""Emotions through a video file: judged against the limits first, then every k-th frame analysed
into a timeline, an annotated copy to download (H.264 in MP4, which browsers play) and a few
annotated previews.

Decoding and encoding go through PyAV (FFmpeg's libraries, libx264 included in its wheels). A
video is refused with one line when it cannot be read, when its length is unknown (a live stream
or a recording cut short: nothing says when it ends), or when its file size, duration or frame
count is over the settings' limits (``video_max_mib``, ``video_max_seconds``,
``video_max_frames``). The decoder stops at those limits whatever the header declared, so a file
that lies about its length cannot run on.

On the Predict page the analysis runs as a job (``fer.jobs.kinds``: kind ``video``), which writes
its results into its own folder with ``analyse_into``; ``python -m fer predict`` calls ``analyse``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av
import cv2
import numpy as np
import pandas as pd

from fer import store
from fer.draw import annotate
from fer.labels import CLASSES
from fer.store import layout

VIDEO_EXTENSIONS = (".mp4", ".webm", ".avi", ".mov", ".mkv", ".m4v")
OUTPUT_MAX_WIDTH = 1280  # the annotated copy is scaled down to this width: a download, not an archive
PREVIEW_WIDTH = 320
TIMELINE_COLUMNS = ["frame", "time", "face", "x1", "y1", "x2", "y2", "label", *CLASSES]


class VideoError(ValueError):
    """A video that cannot be analysed: one line that says why."""


def is_video_name(name: str) -> bool:
    return str(name).lower().endswith(VIDEO_EXTENSIONS)


@dataclass(frozen=True)
class VideoLimits:
    max_mib: float = 512
    max_seconds: float = 600
    max_frames: int = 36_000

    @classmethod
    def from_settings(cls) -> "VideoLimits":
        from fer import settings  # the settings read the store: not at import time

        s = settings.load()
        return cls(s.video_max_mib, s.video_max_seconds, s.video_max_frames)


def _open(path: str | Path, name: str):
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise VideoError(f"{name}: not a readable video (MP4, WebM, AVI, MOV, MKV): "
                         f"{getattr(e, 'strerror', None) or e}") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{name}: holds no video stream")
    return container


def probe(path: str | Path, name: str | None = None) -> dict:
    """Frames, fps, size and seconds of a video from its header; ``VideoError`` when it cannot be
    read or its length is unknown (``name``: what messages call the file; its own name by default)."""
    name = name or Path(path).name
    with _open(path, name) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        if stream.duration is not None and stream.time_base:
            seconds = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            seconds = container.duration / av.time_base
        else:
            raise VideoError(f"{name}: its length is unknown (a live stream, or a recording cut short): "
                             "not analysed; save it as a complete file first (e.g. ffmpeg -i IN -c copy OUT.mp4)")
        frames = int(stream.frames) or int(round(seconds * fps))
        width, height = stream.codec_context.width, stream.codec_context.height
    if not width or not height or frames <= 0:
        raise VideoError(f"{name}: no picture in it (size {width}×{height}, {frames} frames)")
    return {"frames": frames, "fps": fps, "width": width, "height": height, "seconds": seconds}


def check_size(name: str, size: int, limits: VideoLimits) -> None:
    if size > limits.max_mib * 2**20:
        raise VideoError(f"{name}: {size / 2**20:,.1f} MiB, over the {limits.max_mib:g} MiB limit for a video "
                         "(video_max_mib)")


def check(path: str | Path, limits: VideoLimits, name: str | None = None) -> dict:
    """``probe``, after the file's size, then the duration and frame count against ``limits``;
    each refusal names the value and the limit."""
    name = name or Path(path).name
    size = os.path.getsize(path)
    check_size(name, size, limits)
    info = probe(path, name)
    if info["seconds"] > limits.max_seconds:
        raise VideoError(f"{name}: {info['seconds']:,.1f} s long, over the {limits.max_seconds:g} s limit "
                         "(video_max_seconds)")
    if info["frames"] > limits.max_frames:
        raise VideoError(f"{name}: {info['frames']:,} frames, over the {limits.max_frames:,} frame limit "
                         "(video_max_frames)")
    return info | {"bytes": size}


def frames(path: str | Path, limits: VideoLimits | None = None,
           name: str | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """(index, seconds, RGB frame) for every frame; stops with ``VideoError`` past the limits
    (whatever the header said) or at a frame that cannot be decoded."""
    name = name or Path(path).name
    with _open(path, name) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        index = 0
        try:
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else index / fps
                if limits and (index >= limits.max_frames or t > limits.max_seconds):
                    raise VideoError(f"{name}: runs past the limits ({limits.max_frames:,} frames, "
                                     f"{limits.max_seconds:g} s) though its header said less: stopped at frame {index:,}")
                yield index, t, frame.to_ndarray(format="rgb24")
                index += 1
        except av.error.FFmpegError as e:
            raise VideoError(f"{name}: cannot be decoded at frame {index:,} ({e.strerror or e})") from None


class AnnotatedVideo:
    """An H.264 MP4 (yuv420p, moov atom first so a browser plays it while it loads), written
    frame by frame; the size is taken from the first frame, scaled to at most
    ``OUTPUT_MAX_WIDTH`` and made even (the codec's rule)."""

    def __init__(self, path: str | Path, fps: float):
        self.path, self.fps = str(path), Fraction(fps).limit_denominator(1001)
        self.container = self.stream = self.size = None

    def write(self, rgb: np.ndarray) -> None:
        if self.container is None:
            h, w = rgb.shape[:2]
            scale = min(1.0, OUTPUT_MAX_WIDTH / w)
            self.size = (max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2))
            self.container = av.open(self.path, "w", format="mp4", options={"movflags": "+faststart"})
            self.stream = self.container.add_stream("libx264", rate=self.fps)
            self.stream.width, self.stream.height = self.size
            self.stream.pix_fmt = "yuv420p"
            self.stream.options = {"preset": "veryfast", "crf": "23"}
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            rgb = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        for packet in self.stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
            self.container.mux(packet)

    def close(self) -> None:
        if self.container is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
            self.container.close()
            self.container = None


def analyse(path: str | Path, predictor, every: int = 5, previews: int = 6,
            progress: Callable[[int, int], None] | None = None, limits: VideoLimits | None = None,
            annotated: str | Path | None = None, name: str | None = None) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """One row per face per analysed frame (frame, time, face, box, label, the seven
    probabilities; a frame without a face gives one row with no label), and a few annotated RGB
    frames spread over the video. With ``annotated``, every frame is written there as an MP4,
    with the boxes of the last analysed frame drawn on the frames in between."""
    info = probe(path, name)
    total = max(info["frames"], 1)
    keep = set(np.linspace(0, max(total - 1, 0), num=previews, dtype=int) // every * every) if previews else set()
    rows, shots, results = [], [], []
    writer = AnnotatedVideo(annotated, info["fps"]) if annotated else None
    try:
        for index, t, rgb in frames(path, limits, name):
            if index % every == 0:
                results = predictor.predict(rgb)
                if not results:
                    rows.append({"frame": index, "time": t, "face": None, "label": None})
                for k, r in enumerate(results):
                    rows.append({"frame": index, "time": t, "face": k, "x1": r.box[0], "y1": r.box[1], "x2": r.box[2],
                                 "y2": r.box[3], "label": r.label, **{c: r.probs[c] for c in CLASSES}})
                if index in keep:
                    shots.append(annotate(rgb, results))
                if progress:
                    progress(index + 1, total)
            if writer:
                writer.write(annotate(rgb, results) if results else rgb)
    finally:
        if writer:
            writer.close()
    if progress:
        progress(total, total)
    return pd.DataFrame(rows).reindex(columns=TIMELINE_COLUMNS), shots


# -- a job's folder ------------------------------------------------------------------------------

def _preview_strip(shots: list[np.ndarray]) -> np.ndarray:
    if not shots:
        return np.zeros((0, 1, 1, 3), np.uint8)
    h, w = shots[0].shape[:2]
    size = (PREVIEW_WIDTH, max(1, round(h * PREVIEW_WIDTH / w)))
    return np.stack([cv2.resize(s, size, interpolation=cv2.INTER_AREA) for s in shots])


def _save_array(path: str, arr: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would add ".npy" to a temporary name
        np.save(f, arr, allow_pickle=False)


def analyse_into(folder: Path, path: str | Path, predictor, every: int, limits: VideoLimits,
                 progress: Callable[[int, int], None] | None = None, name: str | None = None) -> dict:
    """``analyse`` a video into a job's folder: the timeline (CSV), the annotated MP4, the
    previews and a description (the video, the settings, the model that made it), each written
    atomically. Returns the description."""
    folder = Path(folder)
    info = check(path, limits, name)
    out: dict = {}

    def run(tmp: str) -> None:
        out["timeline"], out["shots"] = analyse(path, predictor, every=every, progress=progress, limits=limits,
                                                annotated=tmp, name=name)

    store.atomic_write(folder / layout.VIDEO_ANNOTATED, run)
    timeline = out["timeline"]
    store.write_text(folder / layout.VIDEO_TIMELINE, timeline.to_csv(index=False))
    store.atomic_write(folder / layout.VIDEO_PREVIEWS, lambda tmp: _save_array(tmp, _preview_strip(out["shots"])))
    faces = timeline[timeline["label"].notna()]
    description = {"video": name or Path(path).name, **{k: info[k] for k in ("frames", "fps", "width", "height",
                                                                              "seconds", "bytes")},
                   "every": every, "analysed_frames": int(timeline["frame"].nunique()),
                   "frames_with_a_face": int(faces["frame"].nunique()), "model": predictor.identity()}
    store.write_json(folder / layout.VIDEO_INFO, description)
    return description


def results(folder: Path) -> dict | None:
    """What a finished video job wrote: ``info`` (the description), ``timeline``, ``previews``
    (a list of RGB frames) and ``annotated`` (the MP4's path); None when it wrote nothing."""
    folder = Path(folder)
    info = store.read_json(folder / layout.VIDEO_INFO)
    if not isinstance(info, dict):
        return None
    try:
        timeline = pd.read_csv(folder / layout.VIDEO_TIMELINE)
        previews = list(np.load(folder / layout.VIDEO_PREVIEWS, allow_pickle=False))
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    return {"info": info, "timeline": timeline, "previews": previews, "annotated": folder / layout.VIDEO_ANNOTATED}


def describe(info: dict) -> str:
    """One line on what an analysis covered (the job's closing line, the page's caption)."""
    m = info.get("model") or {}
    who = m.get("name", "?") + (f"@{m['version']}" if m.get("version") else "")
    return (f"{info['video']}: {info['frames']:,} frames at {info['fps']:.1f} fps, {info['width']}×{info['height']}, "
            f"{info['seconds']:.1f} s; every {info['every']} analysed ({info['analysed_frames']:,}), a face in "
            f"{info['frames_with_a_face']:,}; model {who} (sha256 {str(m.get('sha256', ''))[:12]})")


__all__ = ["AnnotatedVideo", "VideoError", "VideoLimits", "analyse", "analyse_into", "check", "check_size", "describe",
           "frames", "is_video_name", "probe", "results"]
