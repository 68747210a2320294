"""Decoding images safely and uniformly, for datasets, prediction and uploads alike.

One policy everywhere: the pixel count is checked from the header before anything is decoded,
EXIF orientation is applied, and every mode (16-bit, CMYK, palette, alpha, ...) becomes plain
8-bit grayscale or RGB the same way. Pillow's own bomb check (``Image.MAX_IMAGE_PIXELS``) stays
on for every other user of Pillow in the process; ours is stricter and comes first where it can.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

MAX_PIXELS = 40_000_000
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm")


class ImageError(ValueError):
    """An image that cannot be used: the message says why, in a few words."""


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def open_image(source: bytes | str | Path, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode an image from bytes or a path; orientation applied. Raises ``ImageError``."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError("empty file (0 bytes)")
        fp = io.BytesIO(source)
    else:
        fp = source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(fp)
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(f"too large: {w}x{h} = {w * h / 1e6:.1f} MP, over the {max_pixels / 1e6:.0f} MP limit")
            img.load()
            img = ImageOps.exif_transpose(img) if _has_orientation(img) else img
    except ImageError:
        raise
    except Image.DecompressionBombError:  # Pillow refuses in Image.open, before our check can run
        pillow = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        limit = f"over the {max_pixels / 1e6:.0f} MP limit" if max_pixels < pillow else "Pillow's bomb limit"
        raise ImageError(f"too large: its header declares over {pillow / 1e6:.0f} MP, {limit}") from None
    except FileNotFoundError:
        raise ImageError(f"no such file: {source}") from None
    except Image.UnidentifiedImageError:
        raise ImageError("not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"cannot decode: {e}") from None
    return img


def _has_orientation(img: Image.Image) -> bool:
    try:
        return img.getexif().get(0x0112, 1) != 1
    except Exception:  # a broken EXIF block is not worth losing the image for
        return False


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and float images scaled to 8 bits by their nominal range (not clipped)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        scale = 257.0 if img.mode.startswith("I;16") or arr.max(initial=0) <= 65535 else arr.max() / 255.0
        return Image.fromarray(np.clip(arr / scale, 0, 255).astype(np.uint8), "L")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        hi = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        return Image.fromarray(np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8), "L")
    return img


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Transparent pixels become black: a cut-out face on a background we cannot see."""
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img


def to_gray(img: Image.Image) -> np.ndarray:
    """H×W uint8 luminance of any mode."""
    img = _flatten_alpha(_to_8bit(img))
    if img.mode != "L":
        img = img.convert("RGB").convert("L") if img.mode not in ("RGB", "1") else img.convert("L")
    return np.asarray(img, dtype=np.uint8)


def to_rgb(img: Image.Image) -> np.ndarray:
    """H×W×3 uint8 RGB of any mode."""
    img = _flatten_alpha(_to_8bit(img))
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def load_rgb(source: bytes | str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    return to_rgb(open_image(source, max_pixels))


def fit_square(arr: np.ndarray, size: int, channels: int) -> np.ndarray:
    """A uint8 image (H×W or H×W×C) as size×size×channels: gray↔RGB as needed, the centred square
    cut when it is not square (never stretched), resized by area when shrinking."""
    import cv2

    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.shape[2] != channels:
        arr = (cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY)[..., None] if channels == 1
               else np.repeat(arr, 3, axis=2))
    h, w = arr.shape[:2]
    if (h, w) != (size, size):
        s = min(h, w)
        arr = arr[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        arr = cv2.resize(arr, (size, size), interpolation=cv2.INTER_AREA if s > size else cv2.INTER_LINEAR)
    return np.ascontiguousarray(arr.reshape(size, size, channels))
