"""The live camera: faces followed between detections, classified every frame, smoothed.

``FrameProcessor.process(frame_bgr)`` returns the annotated frame. Detection (the model's
detector) runs on a downscaled copy every ``detect_every`` frames; in between, each face is
carried by Lucas–Kanade optical flow of corner points inside its box (OpenCV headless < 5 has no
KCF/CSRT trackers, and the MIL tracker costs ~30 ms). Each face keeps an exponential moving
average of its probabilities, so labels do not flicker. Nothing is written anywhere.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from fer import faces
from fer.draw import annotate, put_text
from fer.predict import FaceResult


@dataclass
class _Track:
    box: np.ndarray  # x1, y1, x2, y2
    landmarks: np.ndarray | None
    score: float
    probs: np.ndarray | None = None
    points: np.ndarray | None = field(default=None, repr=False)  # corners followed by optical flow


def iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FrameProcessor:
    """Defaults are the settings ``bench/live.py`` reports (README)."""

    def __init__(self, predictor, detect_every: int = 4, detect_width: int = 320, smoothing: float = 0.6,
                 mirror: bool = False, max_faces: int = 4, draw: bool = True):
        self.predictor = predictor
        self.detect_every, self.detect_width = detect_every, detect_width
        self.smoothing, self.mirror, self.max_faces, self.draw = smoothing, mirror, max_faces, draw
        self._tracks: list[_Track] = []
        self._prev_gray: np.ndarray | None = None
        self._count = 0
        self._last_time: float | None = None
        self.fps = 0.0
        self.results: list[FaceResult] = []
        self._lock = threading.Lock()  # process() may be called from a WebRTC worker thread

    # -- detection and tracking -------------------------------------------------------------
    def _detect(self, rgb: np.ndarray) -> list[_Track]:
        h, w = rgb.shape[:2]
        scale = min(1.0, self.detect_width / w)
        small = cv2.resize(rgb, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
        found = faces.detect(small, method=self.predictor.detector, refine=False)[: self.max_faces]
        out = []
        for f in found:
            lm = None if f.landmarks is None else f.landmarks / scale
            out.append(_Track(np.asarray(f.box, np.float32) / scale, lm, f.score))
        return out

    def _match(self, detected: list[_Track]) -> list[_Track]:
        """Keep each old face's smoothed probabilities when a new detection overlaps it."""
        for d in detected:
            best = max(self._tracks, key=lambda t: iou(t.box, d.box), default=None)
            if best is not None and iou(best.box, d.box) > 0.3:
                d.probs = best.probs
        return detected

    def _seed_points(self, gray: np.ndarray, t: _Track) -> None:
        x1, y1, x2, y2 = (int(v) for v in t.box)
        mask = np.zeros_like(gray)
        mask[max(0, y1):max(0, y2), max(0, x1):max(0, x2)] = 255
        pts = cv2.goodFeaturesToTrack(gray, maxCorners=30, qualityLevel=0.01, minDistance=4, mask=mask)
        t.points = pts

    def _follow(self, gray: np.ndarray) -> None:
        """Move every face by the median optical flow of its points; lose faces that lose them."""
        kept = []
        for t in self._tracks:
            if t.points is None or len(t.points) < 3:
                continue
            new, status, _ = cv2.calcOpticalFlowPyrLK(self._prev_gray, gray, t.points, None, winSize=(15, 15),
                                                      maxLevel=2)
            good = status.reshape(-1) == 1
            if good.sum() < 3:
                continue
            shift = np.median((new[good] - t.points[good]).reshape(-1, 2), axis=0)
            t.box = t.box + np.array([shift[0], shift[1], shift[0], shift[1]], np.float32)
            if t.landmarks is not None:
                t.landmarks = t.landmarks + shift
            t.points = new[good].reshape(-1, 1, 2)
            kept.append(t)
        self._tracks = kept

    # -- the frame --------------------------------------------------------------------------
    def process(self, frame_bgr: np.ndarray) -> np.ndarray:
        with self._lock:
            return self._process(frame_bgr)

    def _process(self, frame_bgr: np.ndarray) -> np.ndarray:
        now = time.perf_counter()
        if self._last_time is not None:
            dt = now - self._last_time
            self.fps = 1 / dt if not self.fps else 0.9 * self.fps + 0.1 / max(dt, 1e-6)
        self._last_time = now
        if self.mirror:
            frame_bgr = cv2.flip(frame_bgr, 1)
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        if self._count % self.detect_every == 0 or not self._tracks or self._prev_gray is None:
            self._tracks = self._match(self._detect(rgb))
            for t in self._tracks:
                self._seed_points(gray, t)
        else:
            self._follow(gray)
        self._count += 1
        self._prev_gray = gray
        self.results = self._classify(rgb)
        if not self.draw:
            return frame_bgr
        out = annotate(frame_bgr, self.results, bgr=True)
        put_text(out, f"{self.fps:.1f} fps")
        return out

    def _classify(self, rgb: np.ndarray) -> list[FaceResult]:
        if not self._tracks:
            return []
        fs = [faces.Face(tuple(map(float, t.box)), t.score, t.landmarks) for t in self._tracks]
        probs = self.predictor.classify([self.predictor.crop(rgb, f) for f in fs])
        out = []
        for t, f, p in zip(self._tracks, fs, probs):
            t.probs = p if t.probs is None else self.smoothing * t.probs + (1 - self.smoothing) * p
            classes = self.predictor.classes
            out.append(FaceResult(f.box, f.landmarks, dict(zip(classes, map(float, t.probs))),
                                  classes[int(np.argmax(t.probs))], f.score))
        return out


def make_callback(processor: FrameProcessor, sink: queue.Queue | None = None, latest: dict | None = None):
    """The WebRTC ``video_frame_callback``: av.VideoFrame → array → processor → av.VideoFrame.
    Each frame's largest face goes into ``sink`` (for the page's timeline; no Streamlit calls in
    here); ``latest["frame"]`` keeps the last annotated frame for a snapshot."""
    import av

    start = time.time()

    def callback(frame: "av.VideoFrame") -> "av.VideoFrame":
        out = processor.process(frame.to_ndarray(format="bgr24"))
        if latest is not None:
            latest["frame"] = out
        if sink is not None:
            top = processor.results[0] if processor.results else None
            item = {"time": time.time() - start, "fps": processor.fps, "faces": len(processor.results),
                    "label": top.label if top else None, "probs": top.probs if top else None}
            try:
                sink.put_nowait(item)
            except queue.Full:  # the page is not reading: drop the oldest
                try:
                    sink.get_nowait()
                    sink.put_nowait(item)
                except queue.Empty:
                    pass
        new = av.VideoFrame.from_ndarray(out, format="bgr24")
        new.pts = frame.pts
        if frame.time_base is not None:
            new.time_base = frame.time_base
        return new

    return callback
