"""Face detection and alignment: MTCNN (box, score, five landmarks) or Haar (fast, box only).

The crop geometry is one contract for datasets, prediction and the camera (DESIGN.md): the face
box is expanded to a square of side ``max(w, h) · (1 + 2 · margin)`` around its centre, turned so
that the eyes are level (a rotation about the eye centre, which carries the box centre with it),
padded with black where it leaves the image (never stretched) and resized. Without landmarks the
same square is cut without rotation.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from fer.images import MAX_PIXELS, ImageError, open_image, to_rgb

METHODS = ("mtcnn", "haar")
MIN_FACE = 20  # pixels: MTCNN's smallest face, and Haar's
# Haar, the fast path: a coarser pyramid (1.2) and 4 neighbours found 73 % of composed FER2013
# faces in 65 ms a 640×480 frame, against 82 % in 115 ms with (1.1, 5); histogram equalisation
# lost faces on these frames (bench/faces.py).
HAAR_SCALE, HAAR_NEIGHBOURS = 1.2, 4


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels
    score: float  # MTCNN's probability; Haar gives none, so 1.0
    landmarks: np.ndarray | None = None  # 5×2: left eye, right eye, nose, mouth left, mouth right (as seen)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def to_dict(self) -> dict:
        return {"box": [round(float(v), 2) for v in self.box], "score": round(float(self.score), 4),
                "landmarks": None if self.landmarks is None else np.round(self.landmarks, 2).tolist()}


def as_rgb(image, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An RGB uint8 array from a PIL image (any mode), an array (gray, RGB, RGBA, 16-bit), a path
    or bytes. The pixel limit is checked before anything is decoded or converted."""
    if isinstance(image, (str, Path, bytes, bytearray)):
        image = open_image(image, max_pixels)
    if isinstance(image, Image.Image):
        _check_pixels(*image.size, max_pixels)
        return to_rgb(image)
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise ImageError(f"not an image array: shape {arr.shape}")
    _check_pixels(arr.shape[1], arr.shape[0], max_pixels)
    if arr.dtype != np.uint8:
        hi = 65535.0 if arr.dtype == np.uint16 else (1.0 if arr.dtype.kind == "f" and arr.max(initial=0) <= 1 else 255.0)
        arr = np.clip(arr.astype(np.float32) / hi * 255.0, 0, 255).astype(np.uint8)
    if arr.ndim == 2 or arr.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(arr.reshape(arr.shape[0], arr.shape[1], 1), 3, axis=2))
    if arr.shape[2] == 4:  # transparent pixels on black, as fer.images does
        alpha = arr[..., 3:4].astype(np.float32) / 255.0
        return (arr[..., :3].astype(np.float32) * alpha).astype(np.uint8)
    return np.ascontiguousarray(arr)


def _check_pixels(w: int, h: int, max_pixels: int) -> None:
    if w * h > max_pixels:
        raise ImageError(f"too large: {w}x{h} = {w * h / 1e6:.1f} MP, over the {max_pixels / 1e6:.0f} MP limit")


# -- detectors ------------------------------------------------------------------------------

_lock = threading.Lock()  # MTCNN modules are not safe to call from two threads at once


@lru_cache(maxsize=4)
def _mtcnn(device: str, min_face: int):
    from facenet_pytorch import MTCNN  # weights ship inside the wheel

    return MTCNN(keep_all=True, min_face_size=min_face, device=device, post_process=False)


@lru_cache(maxsize=1)
def _haar() -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise RuntimeError(f"OpenCV's Haar cascade is missing ({path}); install opencv-python-headless<5")
    return cascade


def _mtcnn_faces(boxes, probs, points, min_score: float) -> list[Face]:
    if boxes is None:
        return []
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    probs = np.asarray(probs, np.float32).reshape(-1)
    points = np.asarray(points, np.float32).reshape(-1, 5, 2)
    return [Face(tuple(map(float, b)), float(p), lm) for b, p, lm in zip(boxes, probs, points) if p >= min_score]


def _largest_first(faces: list[Face]) -> list[Face]:
    return sorted(faces, key=lambda f: f.area, reverse=True)


REFINE_DEGREES = 5.0  # landmarks of a face tilted more than this are measured again, upright


def detect(image, method: str = "mtcnn", min_face: int = MIN_FACE, min_score: float = 0.9,
           device: str = "cpu", max_pixels: int = MAX_PIXELS, refine: bool = True) -> list[Face]:
    """Faces in an image, largest first; an empty list when there is none."""
    return detect_batch([image], method, min_face, min_score, device, max_pixels, refine)[0]


def detect_batch(images, method: str = "mtcnn", min_face: int = MIN_FACE, min_score: float = 0.9,
                 device: str = "cpu", max_pixels: int = MAX_PIXELS, refine: bool = True) -> list[list[Face]]:
    """``detect`` for several images; MTCNN runs images of one size as one batch.

    ``refine``: MTCNN places landmarks of tilted faces a few degrees short of the tilt (3-4° at
    25-40°), so a face tilted over 5° is turned upright and its landmarks found again there;
    the levelled crop then stays within 2° of level.
    """
    if method not in METHODS:
        raise ValueError(f"detector {method!r}: use one of {', '.join(METHODS)}")
    rgbs = [as_rgb(im, max_pixels) for im in images]
    out: list[list[Face]] = [[] for _ in rgbs]
    if method == "haar":
        for i, rgb in enumerate(rgbs):
            gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            found = _haar().detectMultiScale(gray, scaleFactor=HAAR_SCALE, minNeighbors=HAAR_NEIGHBOURS,
                                             minSize=(min_face, min_face))
            out[i] = _largest_first([Face((float(x), float(y), float(x + w), float(y + h)), 1.0)
                                     for x, y, w, h in np.asarray(found).reshape(-1, 4)])
        return out
    mtcnn = _mtcnn(device, min_face)
    by_size: dict[tuple, list[int]] = {}
    for i, rgb in enumerate(rgbs):
        # MTCNN's pyramid needs a few pixels beyond its smallest face; smaller images hold none
        if min(rgb.shape[:2]) >= 12:
            by_size.setdefault(rgb.shape, []).append(i)
    for idx in by_size.values():
        with _lock:
            boxes, probs, points = mtcnn.detect(np.stack([rgbs[i] for i in idx]), landmarks=True)
        for k, i in enumerate(idx):
            out[i] = _largest_first(_mtcnn_faces(boxes[k], probs[k], points[k], min_score))
    if refine:
        out = [[_refined(rgb, f, mtcnn) for f in found] for rgb, found in zip(rgbs, out)]
    return out


def _refined(rgb: np.ndarray, face: Face, mtcnn, size: int = 160) -> Face:
    if face.landmarks is None or abs(eye_angle(face.landmarks)) <= REFINE_DEGREES:
        return face
    m = crop_transform(face, size, 0.3)
    upright = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR)
    with _lock:
        boxes, probs, points = mtcnn.detect(upright, landmarks=True)
    again = _mtcnn_faces(boxes, probs, points, 0.5)
    if not again:
        return face
    best = min(again, key=lambda f: np.hypot(*(np.asarray(f.box).reshape(2, 2).mean(0) - size / 2)))
    back = transform_points(best.landmarks, cv2.invertAffineTransform(m)).astype(np.float32)
    return Face(face.box, face.score, back)


# -- alignment ------------------------------------------------------------------------------

def eye_angle(landmarks: np.ndarray) -> float:
    """Degrees the eye line is turned from level (positive: the right eye, as seen, is lower)."""
    (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
    return math.degrees(math.atan2(ry - ly, rx - lx))


def crop_transform(face: Face, size: int, margin: float, rotate: bool = True) -> np.ndarray:
    """The 2×3 affine map from image pixels to crop pixels (DESIGN.md's crop geometry)."""
    x1, y1, x2, y2 = face.box
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    centre = ((x1 + x2) / 2, (y1 + y2) / 2)
    angle = eye_angle(face.landmarks) if rotate and face.landmarks is not None else 0.0
    # Rotating about the eye centre and centring on the moved box centre is the same map as
    # rotating about the box centre: one matrix, one resampling.
    m = cv2.getRotationMatrix2D(centre, angle, size / side)
    m[:, 2] += (size / 2 - centre[0], size / 2 - centre[1])
    return m


def align(image, face: Face, size: int = 224, margin: float = 0.3, grayscale: bool = False) -> np.ndarray:
    """The aligned square crop of ``face`` (uint8, size×size×3, or size×size when grayscale)."""
    rgb = as_rgb(image)
    m = crop_transform(face, size, margin)
    scale = math.hypot(m[0, 0], m[0, 1])
    if scale < 0.5:
        # shrink first by area averaging so the warp does not alias (warpAffine has no INTER_AREA)
        f = 2 * scale
        rgb = cv2.resize(rgb, (max(1, round(rgb.shape[1] * f)), max(1, round(rgb.shape[0] * f))),
                         interpolation=cv2.INTER_AREA)
        m = m @ np.array([[1 / f, 0, 0], [0, 1 / f, 0], [0, 0, 1]])
    crop = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(0, 0, 0))
    return cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if grayscale else crop


def centre_crop(image, size: int = 224, grayscale: bool = False) -> np.ndarray:
    """The largest centred square, resized: what an image without a detected face keeps."""
    rgb = as_rgb(image)
    h, w = rgb.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    crop = cv2.resize(rgb[y:y + s, x:x + s], (size, size), interpolation=cv2.INTER_AREA if s > size else cv2.INTER_LINEAR)
    return cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if grayscale else crop


def transform_points(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Points (N×2) through a 2×3 affine map."""
    return np.asarray(points, np.float64) @ m[:, :2].T + m[:, 2]
