"""What the Predict page's video analysis costs, stage by stage, on a generated clip.

    python bench/video.py [--seconds 10] [--fps 25] [--every 5] [--detector mtcnn|haar] [--model default]

In one run, on the same clip (a face panning across a 640×480 frame, H.264): decoding alone (the
bare baseline); decoding, drawing one face's box and label on every frame and encoding the
annotated MP4 (what the annotated copy adds, without the model); and ``fer.video.analyse`` writing
the annotated copy as the video job does (decoding, a prediction every k-th frame, drawing,
encoding). Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def clip(path: Path, seconds: float, fps: int) -> Path:
    import av
    import cv2
    import numpy as np
    from skimage import data

    face = cv2.resize(data.astronaut(), (300, 300))
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 640, 480, "yuv420p"
        for i in range(int(seconds * fps)):
            frame = np.full((480, 640, 3), 80, np.uint8)
            x = 40 + (4 * i) % 300
            frame[90:390, x:x + 300] = face
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def main() -> None:
    import torch

    from fer.predict import Predictor
    from fer.draw import annotate
    from fer.video import AnnotatedVideo, analyse, frames, probe

    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--detector", default="mtcnn")
    ap.add_argument("--model", default="default")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = clip(Path(tmp) / "clip.mp4", args.seconds, args.fps)
        info = probe(src)
        predictor = Predictor.load(args.model, detector=args.detector)
        predictor.predict(next(frames(src))[2])  # warm: MTCNN and the model built once

        t = time.perf_counter()
        n = sum(1 for _ in frames(src))
        decode = time.perf_counter() - t
        results = predictor.predict(next(frames(src))[2])
        out = Path(tmp) / "drawn.mp4"
        t = time.perf_counter()
        writer = AnnotatedVideo(out, info["fps"])
        for _, _, rgb in frames(src):
            writer.write(annotate(rgb, results))
        writer.close()
        encode = time.perf_counter() - t
        size = out.stat().st_size
        t = time.perf_counter()
        analyse(src, predictor, every=args.every, annotated=Path(tmp) / "annotated.mp4")
        job = time.perf_counter() - t
    print(json.dumps({
        "clip": {"frames": n, "fps": args.fps, "seconds": args.seconds, "size": "640x480", "every": args.every},
        "decode_only_s": round(decode, 2),
        "decode_draw_encode_s": round(encode, 2),
        "draw_and_encode_ms_per_frame": round(1000 * (encode - decode) / n, 2),
        "annotated_mp4_bytes": size,
        "analyse_with_annotated_mp4_s": round(job, 2),
        "predictions": len(range(0, n, args.every)),
        "realtime_factor": round(args.seconds / job, 2),
        "conditions": {"model": predictor.label, "detector": args.detector, "torch_threads": torch.get_num_threads(),
                       "cpus": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 1),
                       "python": platform.python_version(), "frames_in_header": info["frames"]},
    }))


if __name__ == "__main__":
    main()
