"""The live camera: faces followed between detections, classified every frame, smoothed.

Two layers:

- ``FrameProcessor.process(frame_bgr)`` returns the annotated frame. Detection (the model's
  detector) runs on a copy downscaled to ``detect_width`` every ``detect_every`` processed frames;
  in between, each face is carried by Lucas–Kanade optical flow of corner points inside its box
  (OpenCV headless < 5 has no KCF/CSRT trackers, and the MIL tracker costs ~30 ms). The flow is
  checked (forward–backward error, enough points that agree, the box still in the picture) and
  a face is detected again on the spot when it cannot be trusted, so boxes stay on faces however
  far they moved since the last frame the processor saw. Each face keeps an exponential moving
  average of its probabilities, so labels do not flicker.
- ``LiveStream`` sits between the browser's camera (streamlit-webrtc, aiortc) and the processor:
  a sink keeps only the newest camera frame, one worker thread processes it, and a source track
  sends each processed frame once. Nothing queues: a busy server shows fewer frames, never older
  ones. Nothing is written anywhere.
"""
from __future__ import annotations

import asyncio
import ctypes
import fractions
import gc
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from types import SimpleNamespace

import av
import cv2
import numpy as np
import pandas as pd
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from fer import faces
from fer.draw import annotate, put_text
from fer.predict import FaceResult

logger = logging.getLogger(__name__)

MIN_POINTS = 6  # corners a face needs for its flow to count
FB_MAX_PX = 1.5  # a corner whose backward flow misses its start by more is not trusted
HISTORY_SECONDS = 120.0  # the timeline keeps this much
VIDEO_CLOCK = 90_000  # RTP's video clock (Hz)


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


class RateMeter:
    """Events per second of wall time over the last ``window`` seconds (thread-safe)."""

    def __init__(self, window: float = 2.0):
        self.window = window
        self._times: deque[float] = deque()
        self._first: float | None = None
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._first = now if self._first is None else self._first
            self._times.append(now)
            self._trim(now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._trim(now)
            if self._first is None:
                return 0.0
            span = min(self.window, now - self._first)
            return len(self._times) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()


class FrameProcessor:
    """Defaults are the settings ``bench/live.py`` reports (README). ``fps`` is the number of frames
    processed per second of wall time (over the last 2 s), idle time included."""

    def __init__(self, predictor, detect_every: int = 4, detect_width: int = 320, smoothing: float = 0.6,
                 mirror: bool = False, max_faces: int = 4, draw: bool = True):
        self.predictor = predictor
        self.detect_every, self.detect_width = detect_every, detect_width
        self.smoothing, self.mirror, self.max_faces, self.draw = smoothing, mirror, max_faces, draw
        self._tracks: list[_Track] = []
        self._prev_gray: np.ndarray | None = None
        self._prev_mirror: bool | None = None
        self._since_detect = 0
        self.meter = RateMeter()
        self.detections = 0  # how often the detector ran (the flow could not be trusted, or it was time)
        self.results: list[FaceResult] = []
        self._lock = threading.Lock()  # process() runs in a worker thread; settings change from the page

    @property
    def fps(self) -> float:
        return self.meter.rate()

    # -- detection and tracking -------------------------------------------------------------
    def _detect(self, rgb: np.ndarray) -> list[_Track]:
        h, w = rgb.shape[:2]
        scale = min(1.0, self.detect_width / w)
        small = cv2.resize(rgb, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
        found = faces.detect(small, method=self.predictor.detector, refine=False)[: self.max_faces]
        self.detections += 1
        return [_Track(np.asarray(f.box, np.float32) / scale, None if f.landmarks is None else f.landmarks / scale,
                       f.score) for f in found]

    def _match(self, detected: list[_Track]) -> list[_Track]:
        """Keep each old face's smoothed probabilities for the new detection nearest to it (within
        one face width: between two processed frames a face may have moved far)."""
        for d in detected:
            cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
            near = [(np.hypot((t.box[0] + t.box[2]) / 2 - cx, (t.box[1] + t.box[3]) / 2 - cy), i)
                    for i, t in enumerate(self._tracks) if t.probs is not None]
            if near:
                dist, i = min(near)
                if dist < max(d.box[2] - d.box[0], d.box[3] - d.box[1]):
                    d.probs = self._tracks[i].probs
        return detected

    @staticmethod
    def _seed_points(gray: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """Corners in the middle of the box (its rim may hold background that moves otherwise)."""
        x1, y1, x2, y2 = box
        mx, my = 0.15 * (x2 - x1), 0.15 * (y2 - y1)
        h, w = gray.shape
        a, b = int(max(0, x1 + mx)), int(max(0, y1 + my))
        c, d = int(min(w, x2 - mx)), int(min(h, y2 - my))
        if c - a < 8 or d - b < 8:
            return None
        pts = cv2.goodFeaturesToTrack(gray[b:d, a:c], maxCorners=40, qualityLevel=0.01, minDistance=4)
        return None if pts is None else (pts + np.array([a, b], np.float32)).astype(np.float32)

    def _follow(self, prev: np.ndarray, gray: np.ndarray, gap: int) -> bool:
        """Move every face by the median optical flow of its points. False (nothing moved) when
        any face's flow cannot be trusted: too few points, points whose backward flow does not
        come back, points that disagree, or a box that left the picture."""
        level = 2 if gap <= 1 else 3 if gap <= 4 else 4  # a deeper pyramid follows larger jumps
        lk = dict(winSize=(21, 21), maxLevel=level,
                  criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
        h, w = gray.shape
        moved = []
        for t in self._tracks:
            if t.points is None or len(t.points) < MIN_POINTS:
                return False
            new, ok1, _ = cv2.calcOpticalFlowPyrLK(prev, gray, t.points, None, **lk)
            back, ok2, _ = cv2.calcOpticalFlowPyrLK(gray, prev, new, None, **lk)
            fb = np.linalg.norm((t.points - back).reshape(-1, 2), axis=1)
            good = (ok1.reshape(-1) == 1) & (ok2.reshape(-1) == 1) & (fb < FB_MAX_PX)
            if good.sum() < max(MIN_POINTS, 0.5 * len(t.points)):
                return False
            d = (new - t.points).reshape(-1, 2)[good]
            shift = np.median(d, axis=0)
            if np.median(np.linalg.norm(d - shift, axis=1)) > 2.0 + 0.1 * np.linalg.norm(shift):
                return False  # the points do not move as one face
            box = t.box + np.array([shift[0], shift[1], shift[0], shift[1]], np.float32)
            bw, bh = box[2] - box[0], box[3] - box[1]
            if box[0] < -0.25 * bw or box[1] < -0.25 * bh or box[2] > w + 0.25 * bw or box[3] > h + 0.25 * bh:
                return False  # left the picture: the detector decides whether it is still there
            moved.append((t, box, shift))
        for t, box, shift in moved:
            t.box = box
            if t.landmarks is not None:
                t.landmarks = t.landmarks + shift
        return True

    # -- the frame --------------------------------------------------------------------------
    def process(self, frame_bgr: np.ndarray, fps: float | None = None, gap: int = 1, rate: bool = True) -> np.ndarray:
        """The annotated frame (mirrored first when ``mirror``: boxes, labels and ``results`` are in
        the mirrored picture's coordinates, and text reads normally). ``fps``: the rate printed on
        the picture (default: this processor's own), none with ``rate=False`` (the Live page shows
        the rate the browser paints instead); ``gap``: camera frames since the last one processed
        (1 when every frame is), to scale the flow's reach."""
        with self._lock:
            return self._process(frame_bgr, fps, max(1, int(gap)), rate)

    def _process(self, frame_bgr: np.ndarray, fps: float | None, gap: int, rate: bool = True) -> np.ndarray:
        self.meter.tick()
        if self.mirror:
            frame_bgr = cv2.flip(frame_bgr, 1)
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        prev = self._prev_gray
        if prev is not None and prev.shape != gray.shape:
            # the browser changed its resolution: carry the faces over to the new size, then detect
            sy, sx = gray.shape[0] / prev.shape[0], gray.shape[1] / prev.shape[1]
            for t in self._tracks:
                t.box = t.box * np.array([sx, sy, sx, sy], np.float32)
                t.landmarks = None if t.landmarks is None else t.landmarks * np.array([sx, sy], np.float32)
            prev = None
        if self._prev_mirror is not None and self._prev_mirror != self.mirror:
            prev = None  # the picture flipped: flow between the two means nothing
        due = self._since_detect + 1 >= self.detect_every
        if prev is None or not self._tracks or due or not self._follow(prev, gray, gap):
            self._tracks = self._match(self._detect(rgb))
            self._since_detect = 0
        else:
            self._since_detect += 1
        for t in self._tracks:
            t.points = self._seed_points(gray, t.box)
        self._prev_gray, self._prev_mirror = gray, self.mirror
        self.results = self._classify(rgb)
        if not self.draw:
            return frame_bgr
        out = annotate(frame_bgr, self.results, bgr=True)
        if rate:
            put_text(out, f"{self.fps if fps is None else fps:.1f} fps")
        return out

    def _crop(self, rgb: np.ndarray, face: faces.Face) -> np.ndarray:
        """``predictor.crop`` on the part of the frame the crop can reach (any rotation), not the
        whole frame: the crop first shrinks its source to anti-alias, ~3.5 ms a face on 640×480."""
        x1, y1, x2, y2 = face.box
        side = max(x2 - x1, y2 - y1) * (1 + 2 * float(self.predictor.face.get("margin", 0.3)))
        reach = int(np.ceil(abs(side) * 0.7072)) + 2  # half the square's diagonal, and a little
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        h, w = rgb.shape[:2]
        ox, oy = max(0, int(cx) - reach), max(0, int(cy) - reach)
        part = rgb[oy:min(h, int(cy) + reach + 1), ox:min(w, int(cx) + reach + 1)]
        if part.size == 0:
            return self.predictor.crop(rgb, face)
        moved = faces.Face((x1 - ox, y1 - oy, x2 - ox, y2 - oy), face.score,
                           None if face.landmarks is None else face.landmarks - np.array([ox, oy], np.float32))
        return self.predictor.crop(part, moved)

    def _classify(self, rgb: np.ndarray) -> list[FaceResult]:
        if not self._tracks:
            return []
        fs = [faces.Face(tuple(map(float, t.box)), t.score, t.landmarks) for t in self._tracks]
        probs = self.predictor.classify([self._crop(rgb, f) for f in fs])
        out = []
        for t, f, p in zip(self._tracks, fs, probs):
            t.probs = p if t.probs is None else self.smoothing * t.probs + (1 - self.smoothing) * p
            classes = self.predictor.classes
            out.append(FaceResult(f.box, f.landmarks, dict(zip(classes, map(float, t.probs))),
                                  classes[int(np.argmax(t.probs))], f.score))
        return out


# -- between WebRTC and the processor --------------------------------------------------------
class NewestFrameSink:
    """Reads the camera track on aiortc's loop as fast as frames come and hands each to
    ``on_frame`` (which keeps the newest only); ``on_end`` when the track ends or ``stop``.
    streamlit-webrtc's ``MediaSink`` protocol (``sink_video_track``), without importing Streamlit."""

    def __init__(self, on_frame, on_end):
        self._on_frame, self._on_end = on_frame, on_end
        self._track: MediaStreamTrack | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def addTrack(self, track: MediaStreamTrack) -> None:  # noqa: N802 (the protocol's names)
        self._track = track

    def hasTrack(self) -> bool:  # noqa: N802
        return self._track is not None

    def start(self) -> None:
        """Called on aiortc's loop once the connection is set up."""
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(self._track))

    async def _run(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return
                self._on_frame(frame)
        finally:
            self._on_end()

    def stop(self) -> None:
        """From any thread (streamlit-webrtc calls it from the script thread on STOP)."""
        task, loop, self._task, self._track = self._task, self._loop, None, None
        if task is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        self._on_end()


class FreshFrameTrack(MediaStreamTrack):
    """The outgoing video: ``recv`` waits for a frame not sent before and sends it once."""

    kind = "video"

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()
        self._frame: av.VideoFrame | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._t0: float | None = None
        self.sent = RateMeter()

    def publish(self, frame: av.VideoFrame | None) -> None:
        """From any thread: ``frame`` replaces one not taken yet (a stale frame is never sent)."""
        with self._lock:
            self._frame = frame
            loop, event = self._loop, self._event
        if loop is not None:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop has closed: the stream is over
                pass

    async def recv(self) -> av.VideoFrame:
        if self._event is None:
            self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            self._event.clear()  # before looking, so that any later publish wakes us
            with self._lock:
                frame, self._frame = self._frame, None
            if frame is not None:
                # Stamped when sent, not when the camera took it: the browser sizes its jitter
                # buffer by how irregularly frames arrive against their stamps, and processing
                # time varies (a detection frame takes longer). Camera stamps made it hold each
                # frame ~460 ms; send stamps keep it small.
                now = time.monotonic()
                self._t0 = now if self._t0 is None else self._t0
                frame.pts, frame.time_base = int((now - self._t0) * VIDEO_CLOCK), fractions.Fraction(1, VIDEO_CLOCK)
                self.sent.tick(now)
                return frame
            await self._event.wait()

    def stop(self) -> None:
        super().stop()
        self.publish(None)  # wake a waiting recv, which then ends


M_ARENA_MAX = -8  # glibc's mallopt parameter


def release_memory() -> None:
    """After a stream has ended: collect its WebRTC objects (decoder, encoder and buffers hold each
    other in cycles) and hand the freed memory back to the system. Each stream's threads
    (aiortc's decoder, the worker) allocate in their own malloc arenas, which glibc keeps mapped
    after they end: without the trim the server grew ~5 MB a stream (bench/live_browser.py)."""
    gc.collect()
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_ARENA_MAX, 2)
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


class LiveStream:
    """One camera stream: pass ``sink`` and ``player`` to ``webrtc_streamer`` (``sink_video_track``,
    ``player_factory``). The camera's frames go to ``sink``, which keeps the newest only; a
    worker thread processes it with ``processor`` (its settings may change while it runs) and
    ``track`` sends the result. ``history`` holds the largest face's emotions for the last
    ``HISTORY_SECONDS`` of the stream (time in seconds since its first frame); ``fps`` is the
    number of fresh frames sent per second of wall time. A stream ends when the camera track does
    (STOP, a closed tab); a new START needs a new ``LiveStream``."""

    def __init__(self, processor: FrameProcessor, history_seconds: float = HISTORY_SECONDS):
        self.processor = processor
        self.history_seconds = history_seconds
        self.sink = NewestFrameSink(self._offer, self.stop)
        self.track = FreshFrameTrack()
        self.history: deque[dict] = deque()
        self.started: float | None = None  # monotonic time of the first camera frame
        self.received = self.processed = 0
        self.latest: np.ndarray | None = None  # the last annotated frame, for a snapshot
        self.error: str | None = None
        self._newest = None
        self._cond = threading.Condition()
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def fps(self) -> float:
        return self.track.sent.rate()

    def player(self) -> SimpleNamespace:
        """The outgoing track as streamlit-webrtc's ``player_factory`` wants it (``.video``, ``.audio``).
        Given as ``source_video_track`` instead, it is relayed twice and the second relay waits
        forever once STOP has detached the first: a task, two tracks and a frame leaked per stream.
        A player's track is stopped first on STOP, so its end reaches the sender."""
        return SimpleNamespace(video=self.track, audio=None)

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    @property
    def dropped(self) -> int:
        """Camera frames never processed because a newer one had come."""
        return max(0, self.received - self.processed - (self._newest is not None))

    def _offer(self, frame) -> None:
        """On aiortc's loop, for every camera frame: keep it as the newest, drop the one it replaces."""
        with self._cond:
            if self._ended.is_set():
                return
            if self.started is None:
                self.started = time.monotonic()
                self._thread = threading.Thread(target=self._work, name="fer-live", daemon=True)
                self._thread.start()
            self._newest = frame
            self.received += 1
            self._cond.notify()

    def _work(self) -> None:
        import torch

        # One thread per op: with torch's default (a thread per core) every op waits for threads
        # that the decoder, the encoder and other processes keep off the cores; on 2 busy cores
        # that made classification ~15× and detection ~5× slower (bench/live_browser.py).
        torch.set_num_threads(1)  # this thread only: the rest of the server keeps its setting
        last = 0
        while True:
            with self._cond:
                while self._newest is None and not self._ended.is_set():
                    self._cond.wait()
                if self._ended.is_set():
                    return
                frame, self._newest, received = self._newest, None, self.received
            gap, last = received - last, received
            image = frame.to_ndarray(format="bgr24")
            try:
                # no rate on the picture: what the server sends is not what the browser paints
                # (the page's label counts that, fer.ui.painted)
                out = self.processor.process(image, gap=gap, rate=False)
                self.error = None
            except Exception as e:  # keep the video going and say why there are no boxes
                logger.exception("live frame failed")
                self.error = f"{type(e).__name__}: {e}"
                out = image.copy()
                put_text(out, "processing failed: see the page")
            self.processed += 1
            self.latest = out
            self._record()
            self.track.publish(av.VideoFrame.from_ndarray(out, format="bgr24"))

    def _record(self) -> None:
        now = time.monotonic()
        top = self.processor.results[0] if self.processor.results else None
        self.history.append({"time": now - self.started, "faces": len(self.processor.results),
                             "label": top.label if top else None, "probs": top.probs if top else None})
        while self.history and self.history[0]["time"] < now - self.started - self.history_seconds:
            self.history.popleft()

    def timeline(self) -> list[dict]:
        """A copy of ``history`` (safe to read while the stream runs)."""
        while True:
            try:
                return list(self.history)
            except RuntimeError:  # appended to while copying
                continue

    def emotions(self, points: int = 240) -> pd.DataFrame:
        """The largest face's probabilities over the stream (``time``: seconds since its first
        frame, one column per class), averaged into at most ``points`` equal bins of time, so a
        chart of the last two minutes stays light; frames without a face are left out."""
        rows = [r for r in self.timeline() if r["probs"]]
        if not rows:
            return pd.DataFrame(columns=["time", *self.processor.predictor.classes])
        df = pd.DataFrame([{"time": r["time"], **r["probs"]} for r in rows])
        width = max((df["time"].iloc[-1] - df["time"].iloc[0]) / points, 1e-9)
        return df.groupby(((df["time"] - df["time"].iloc[0]) // width).clip(upper=points - 1)).mean()

    def stop(self, wait: float = 0) -> None:
        """End the stream: the worker exits after its current frame, the outgoing track ends.
        From any thread, twice is fine; ``wait``: seconds to wait for the worker."""
        with self._cond:
            self._ended.set()
            self._newest = None
            self._cond.notify_all()
        if self.track.readyState == "live":
            self.track.stop()
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=wait)

    @property
    def working(self) -> bool:
        """Whether the worker thread is still running."""
        return self._thread is not None and self._thread.is_alive()
