"""Drawing results on images: boxes, labels with confidence, small probability bars, and the
PNG bytes of an image (every PNG download of the pages)."""
from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from fer.labels import CLASSES

# one colour per class (RGB), the same on every page and in the camera overlay
COLOURS = {"angry": (220, 50, 47), "disgust": (133, 153, 0), "fear": (108, 113, 196), "happy": (255, 193, 7),
           "sad": (38, 139, 210), "surprise": (211, 54, 130), "neutral": (147, 161, 161)}


def annotate(image: np.ndarray, results, bgr: bool = False, bars: bool = True, numbered: bool = False) -> np.ndarray:
    """A copy of ``image`` (RGB, or BGR with ``bgr``) with every ``FaceResult`` drawn on it;
    ``numbered``: each label starts with the face's number (1 for the first, as in the tables)."""
    out = np.ascontiguousarray(image.copy())
    h, w = out.shape[:2]
    scale = max(0.4, min(1.2, w / 900))
    thick = max(1, int(round(2 * scale)))
    for k, r in enumerate(results, 1):
        colour = COLOURS.get(r.label, (255, 255, 255))
        colour = colour[::-1] if bgr else colour
        x1, y1, x2, y2 = (int(round(v)) for v in r.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        text = (f"{k} " if numbered else "") + f"{r.label} {r.probs[r.label]:.0%}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, thick)
        ty = y1 - 4 if y1 - th - 8 > 0 else y2 + th + 4
        cv2.rectangle(out, (x1, ty - th - 4), (x1 + tw + 4, ty + base - 2), colour, -1)
        cv2.putText(out, text, (x1 + 2, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), thick, cv2.LINE_AA)
        if bars:
            bar_w, bar_h = int(60 * scale), max(3, int(7 * scale))
            bx = x2 + 4 if x2 + 4 + bar_w < w else max(0, x1 - bar_w - 4)
            for i, c in enumerate(CLASSES):
                by = y1 + i * (bar_h + 2)
                if by + bar_h >= h:
                    break
                col = COLOURS[c][::-1] if bgr else COLOURS[c]
                cv2.rectangle(out, (bx, by), (bx + bar_w, by + bar_h), (40, 40, 40), -1)
                cv2.rectangle(out, (bx, by), (bx + int(bar_w * r.probs.get(c, 0.0)), by + bar_h), col, -1)
    return out


def put_text(image: np.ndarray, text: str, corner=(8, 22), scale: float = 0.6) -> None:
    """White text on a dark box, in place (FPS and status lines)."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = corner
    cv2.rectangle(image, (x - 4, y - th - 4), (x + tw + 4, y + base + 2), (0, 0, 0), -1)
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def detections(image: np.ndarray, found) -> np.ndarray:
    """Detector output on an RGB image: boxes and the five landmarks (eyes, nose, mouth corners)."""
    out = np.ascontiguousarray(image.copy())
    thick = max(1, int(round(out.shape[1] / 300)))
    for f in found:
        x1, y1, x2, y2 = (int(round(v)) for v in f.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 220, 0), thick)
        if f.landmarks is not None:
            for (x, y), colour in zip(f.landmarks, ((255, 0, 0), (255, 0, 0), (255, 255, 0), (0, 128, 255),
                                                    (0, 128, 255))):
                cv2.circle(out, (int(round(x)), int(round(y))), max(2, thick + 1), colour, -1)
    return out


def png_bytes(rgb: np.ndarray) -> bytes:
    """An RGB (or gray) uint8 image as PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, "PNG")
    return buf.getvalue()
