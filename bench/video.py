"""What the Predict page's video analysis costs, stage by stage, on a generated clip.

    python bench/video.py [--seconds 10] [--fps 25] [--every 5] [--detector mtcnn|haar] [--model default]
                          [--threads 1] [--runtime auto|torch|onnx]

In one run, on the same clip (a face panning across a 640×480 frame, H.264): decoding alone (the
bare baseline); decoding, drawing one face's box and label on every frame and encoding the
annotated MP4 (what the annotated copy adds, without the model); and ``fer.video.analyse`` writing
the annotated copy as the video job does (decoding, a prediction every k-th frame, drawing,
encoding). Prints one JSON object on stdout, progress on stderr; under a minute on 2 cores.

One torch thread by default (``--threads``, in the JSON; the video job runs on torch's default,
one per core): on 2 cores shared with other work, torch's two threads per op wait on each other
and MTCNN took 4.5 s a frame at load 12 against ~0.1 s on one thread. ``--threads 2`` shows that.
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


def log(*msg) -> None:
    print(time.strftime("%H:%M:%S"), *msg, file=sys.stderr, flush=True)


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
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: steady figures on shared cores)")
    ap.add_argument("--runtime", default="auto", choices=("auto", "torch", "onnx"),
                    help="what runs the model (default: the video job's choice, the faster)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        log(f"writing a {args.seconds:g} s clip at {args.fps} frames/s")
        src = clip(Path(tmp) / "clip.mp4", args.seconds, args.fps)
        info = probe(src)
        if args.runtime == "auto":  # as the app has it: exported, so that the faster can be chosen
            from fer.models import onnx
            from fer.store import resolve_model

            onnx.cached(resolve_model(args.model))
        predictor = Predictor.load(args.model, detector=args.detector, runtime=args.runtime)
        log(f"{args.model} runs on {predictor.runtime}")
        predictor.predict(next(frames(src))[2])  # warm: MTCNN and the model built once

        log("decoding only")
        t = time.perf_counter()
        n = sum(1 for _ in frames(src))
        decode = time.perf_counter() - t
        results = predictor.predict(next(frames(src))[2])
        out = Path(tmp) / "drawn.mp4"
        log("decoding, drawing and encoding (no model)")
        t = time.perf_counter()
        writer = AnnotatedVideo(out, info["fps"])
        for _, _, rgb in frames(src):
            writer.write(annotate(rgb, results))
        writer.close()
        encode = time.perf_counter() - t
        size = out.stat().st_size
        log(f"the video job's analysis: every {args.every}th frame, {args.detector}")
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
        "conditions": {"model": predictor.label, "runtime": predictor.runtime, "detector": args.detector,
                       "torch_threads": torch.get_num_threads(),
                       "cpus": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 1),
                       "python": platform.python_version(), "frames_in_header": info["frames"]},
    }))


if __name__ == "__main__":
    main()
