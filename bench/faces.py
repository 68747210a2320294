"""Face detection and alignment: speed per 640×480 frame, dataset alignment rate, detection rate.

    python bench/faces.py [--frames 80] [--zip ../shared/data/fer2013.zip] [--threads 1]

Prints one JSON object on stdout, progress on stderr; about a minute on 2 cores. One torch thread
by default (``--threads``, in the JSON; MTCNN runs on torch): on 2 cores shared with other work,
torch's two threads per op wait on each other and the figures swing several-fold. Frames are
composed from real faces: FER2013 test faces (upscaled, at a random position and scale, on
backgrounds from scikit-image's face-free photos) and the astronaut photo. Each detector is
timed through ``fer.faces`` (detect + align every face to 112 px) beside its bare call
(facenet-pytorch's ``MTCNN.detect`` / OpenCV's ``detectMultiScale``) on the same frames in the
same run.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer import faces  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def fer_faces(path: Path, n: int, rng) -> list[np.ndarray]:
    with zipfile.ZipFile(path) as zf:
        names = sorted(m for m in zf.namelist() if "/test/" in m and m.endswith(".jpg"))
        pick = rng.choice(len(names), size=min(n, len(names)), replace=False)
        return [np.asarray(Image.open(io.BytesIO(zf.read(names[i]))).convert("RGB")) for i in pick]


def backgrounds() -> list[np.ndarray]:
    import skimage.data as d

    out = []
    for img in (d.coffee(), d.rocket(), d.immunohistochemistry(), d.hubble_deep_field()):
        out.append(cv2.resize(np.asarray(img)[..., :3], (640, 480), interpolation=cv2.INTER_AREA))
    return out


def compose(face: np.ndarray, bg: np.ndarray, rng) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    side = int(rng.integers(70, 220))
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    x, y = int(rng.integers(0, 640 - side)), int(rng.integers(0, 480 - side))
    frame = bg.copy()
    frame[y:y + side, x:x + side] = big
    return frame, (x, y, x + side, y + side)


def hit(found: list[faces.Face], placed) -> bool:
    """A detection whose centre lies in the placed face and whose size is within 2× of it."""
    x1, y1, x2, y2 = placed
    for f in found:
        cx, cy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
        if x1 <= cx <= x2 and y1 <= cy <= y2 and 0.5 < f.width / (x2 - x1) < 2:
            return True
    return False


def timed(fn, frames) -> tuple[list[float], list]:
    out, times = [], []
    for fr in frames:
        t = time.perf_counter()
        out.append(fn(fr))
        times.append((time.perf_counter() - t) * 1000)
    return times, out


def stats(ms: list[float]) -> dict:
    return {"median_ms": round(float(np.median(ms)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1)}


def log(*msg) -> None:
    print(time.strftime("%H:%M:%S"), *msg, file=sys.stderr, flush=True)


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=80, help="composed frames (the astronaut's is one more)")
    ap.add_argument("--zip", type=Path, default=SHARED / "fer2013.zip")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: steady figures on shared cores)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    src = args.zip if args.zip.exists() else SHARED / "fer2013-mini.zip"
    if not src.exists():
        sys.exit(f"{args.zip}: not found (pass a FER2013 zip with --zip)")
    import skimage.data as d

    log(f"composing {args.frames} frames from {src.name}")
    rng = np.random.default_rng(0)
    bgs = backgrounds()
    composed = [compose(f, bgs[i % len(bgs)], rng) for i, f in enumerate(fer_faces(src, args.frames, rng))]
    astronaut = cv2.resize(d.astronaut(), (640, 480))
    frames = [c[0] for c in composed] + [astronaut]
    mtcnn, haar = faces._mtcnn("cpu", faces.MIN_FACE), faces._haar()
    faces.detect(astronaut)  # warm-up

    def pipeline(method):
        def run(frame):
            found = faces.detect(frame, method=method)
            for f in found:
                faces.align(frame, f, size=112)
            return found
        return run

    def bare_haar(frame):
        return haar.detectMultiScale(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), faces.HAAR_SCALE,
                                     faces.HAAR_NEIGHBOURS, minSize=(faces.MIN_FACE, faces.MIN_FACE))

    result = {"frames": len(frames), "frame_size": "640x480", "faces_from": src.name, "detectors": {}}
    for method, bare in (("mtcnn", lambda fr: mtcnn.detect(fr, landmarks=True)), ("haar", bare_haar)):
        log(f"{method}: detect + align, then the bare detector, on {len(frames)} frames")
        ms, found = timed(pipeline(method), frames)
        bare_ms, _ = timed(bare, frames)
        placed = [c[1] for c in composed]
        hits = [hit(f, p) for f, p in zip(found, placed)]
        extra = sum(max(0, len(f) - 1) for f in found[: len(placed)]) + max(0, len(found[-1]) - 1)
        result["detectors"][method] = {
            "detect_and_align": stats(ms), "bare_detector": stats(bare_ms),
            "detection_rate_fer_faces": round(float(np.mean(hits)), 3),
            "astronaut_found": bool(found[-1]) and faces.detect(astronaut, method=method)[0].area > 0,
            "extra_detections_per_frame": round(extra / len(frames), 3),
        }

    # dataset alignment: a small store dataset of the composed frames
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FER_ARTIFACTS"] = str(Path(tmp) / "store")
        from fer.data import import_dataset
        from fer.data.align import align_dataset

        root = Path(tmp) / "src" / "happy"
        root.mkdir(parents=True)
        for i, fr in enumerate(frames):
            Image.fromarray(fr).save(root / f"f{i:03d}.jpg", quality=92)
        import_dataset([str(root.parent)], "bench")
        result["dataset_alignment"] = {}
        for method in ("mtcnn", "haar"):
            log(f"dataset alignment of the frames with {method}")
            done = align_dataset("bench", size=112, detector=method)
            result["dataset_alignment"][method] = {"images_per_s": done["images_per_s"], "found": done["found"],
                                                   "images": len(frames)}
        log("dataset alignment of ready-made crops")
        import_dataset([str(SHARED / "fer2013-mini.zip" if (SHARED / "fer2013-mini.zip").exists() else src)],
                       "ready")
        result["dataset_alignment"]["ready_made_fer2013"] = {"images_per_s": align_dataset("ready")["images_per_s"]}
    result["machine"] = {"cpus": len(os.sched_getaffinity(0)), "torch_threads": torch.get_num_threads(),
                         "python": platform.python_version(), "torch": torch.__version__, "opencv": cv2.__version__}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
