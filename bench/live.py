"""The live pipeline against the naive one, on the same 640×480 frames, in the same run.

    python bench/live.py [--model default [--model OTHER ...]] [--frames 120] [--rounds 2] [--threads 1]
                         [--runtime auto|torch|onnx]

Runs with one torch thread (``torch.set_num_threads(1)``), as the live worker does
(``fer.live.LiveStream``); ``--threads 2`` shows torch's two threads on the same cores. The thread
count is in the JSON (``machine.torch_threads``). The pipelines run on ``--runtime``, by default
the app's: the faster of PyTorch and onnxruntime (one thread) as the model's export measured
them (the export is made first where there is none). Progress on stderr, the figures on stdout.

Frames are composed from real faces: the astronaut photo and FER2013 test faces (upscaled),
first still, then moving across the frame. ``FrameProcessor`` (its defaults) is timed per frame;
the naive pipeline is ``predictor.predict`` on every full frame with the same detector. Reported:
frames/s and per-frame latency (median, p95) of both, their ratio, and how often the processor's
boxes agree with the naive ones (every naive face matched by a processor box with IoU >= 0.5).

Also, in the same run: the per-face latency of ``predictor.classify`` on one face (the astronaut's
crop) with PyTorch and with onnxruntime (the model's ONNX export), on one CPU thread and on each
runtime's default threads.

With several ``--model``, each is measured in alternating rounds of the same run, and the
frame rates are given against the first (e.g. the model shipped before against a new one).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer.live import FrameProcessor, iou  # noqa: E402
from fer.predict import Predictor  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def log(*msg) -> None:
    print(time.strftime("%H:%M:%S"), *msg, file=sys.stderr, flush=True)


def faces_to_place() -> list[np.ndarray]:
    import skimage.data as d

    out = [cv2.resize(d.astronaut()[30:230, 130:330], (220, 220))]
    for name in ("fer2013.zip", "fer2013-mini.zip"):
        if (SHARED / name).exists():
            with zipfile.ZipFile(SHARED / name) as zf:
                members = sorted(m for m in zf.namelist() if "/test/happy/" in m or "/test/surprise/" in m)[:2]
                for m in members:
                    g = np.asarray(Image.open(io.BytesIO(zf.read(m))).convert("RGB"))
                    big = cv2.resize(g, (160, 160), interpolation=cv2.INTER_CUBIC)
                    out.append(cv2.copyMakeBorder(big, 30, 30, 30, 30, cv2.BORDER_REPLICATE))
            break
    return out


def frames(n: int) -> list[np.ndarray]:
    """Half still, half moving (about 4 px a frame), BGR."""
    placed = faces_to_place()
    out = []
    for i in range(n):
        f = np.full((480, 640, 3), 95, np.uint8)
        shift = 0 if i < n // 2 else (i - n // 2) * 4
        for k, face in enumerate(placed[:2]):
            x = (40 + 320 * k + shift) % (640 - face.shape[1])
            y = 120 + 60 * k
            f[y:y + face.shape[0], x:x + face.shape[1]] = cv2.cvtColor(face, cv2.COLOR_RGB2BGR)
        out.append(f)
    return out


def stats(ms: list[float]) -> dict:
    return {"fps": round(1000 / float(np.mean(ms)), 2), "median_ms": round(float(np.median(ms)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1)}


def per_face(predictor, crop: np.ndarray, n: int) -> dict:
    """Median and p95 latency (ms) of classifying one face, after a warm-up."""
    for _ in range(10):
        predictor.classify([crop])
    ms = []
    for _ in range(n):
        t = time.perf_counter()
        predictor.classify([crop])
        ms.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(float(np.median(ms)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3)}


def runtimes(predictor, n: int, default_threads: int, threads_now: int) -> dict:
    """PyTorch against onnxruntime per face, on 1 thread and on each one's default threads
    (``default_threads``: torch's own, one per core); torch is left on ``threads_now``."""
    import skimage.data
    import torch

    from fer.models import onnx

    crop = predictor.predict(skimage.data.astronaut())[0].crop
    version = predictor.model_version
    if predictor.runtime != "torch":
        predictor = Predictor.load(version, detector=predictor.detector, runtime="torch")
    path = onnx.cached(version)
    out = {}
    for threads in (1, None):
        torch.set_num_threads(threads or default_threads)
        ort = Predictor(onnx.OnnxClassifier(onnx.OnnxModel(path, threads=threads)), predictor.meta, predictor.folder,
                        version=version, runtime="onnx")
        label = "1_thread" if threads else "default_threads"
        out[f"torch_{label}"], out[f"onnxruntime_{label}"] = per_face(predictor, crop, n), per_face(ort, crop, n)
    torch.set_num_threads(threads_now)
    diff = np.abs(ort.classify([crop]) - predictor.classify([crop])).max()
    out["speedup_1_thread"] = round(out["torch_1_thread"]["median_ms"] / out["onnxruntime_1_thread"]["median_ms"], 2)
    out["speedup_default_threads"] = round(out["torch_default_threads"]["median_ms"]
                                           / out["onnxruntime_default_threads"]["median_ms"], 2)
    out["default_threads"] = {"torch": default_threads, "onnxruntime": "its default (one per physical core)"}
    out["max_abs_diff_probabilities"] = float(f"{diff:.3g}")
    return out


def measure(predictor, video: list[np.ndarray]) -> tuple[list[float], list[float], int, float]:
    """Per-frame latency (ms) of the naive pipeline and of ``FrameProcessor`` on ``video``, on how
    many frames the processor's boxes agree with the naive ones, and the faces a frame."""
    naive_ms, naive_boxes = [], []
    for f in video:
        t = time.perf_counter()
        res = predictor.predict(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
        naive_ms.append((time.perf_counter() - t) * 1000)
        naive_boxes.append([r.box for r in res])
    proc = FrameProcessor(predictor)
    live_ms, agree = [], 0
    for f, truth in zip(video, naive_boxes):
        t = time.perf_counter()
        proc.process(f)
        live_ms.append((time.perf_counter() - t) * 1000)
        got = [r.box for r in proc.results]
        agree += all(any(iou(a, b) >= 0.5 for b in got) for a in truth) and len(got) >= len(truth)
    return naive_ms, live_ms, agree, float(np.mean([len(b) for b in naive_boxes]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", help="a model to measure (default: default); give several to "
                    "compare them in the same run, the first as the baseline")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds over the models (fair under a "
                                                          "load that changes)")
    ap.add_argument("--face-runs", type=int, default=300, help="classifications timed per runtime and thread count")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the live worker runs)")
    ap.add_argument("--runtime", default="auto", choices=("auto", "torch", "onnx"),
                    help="what runs the pipelines (default: the app's choice, the faster)")
    args = ap.parse_args()
    import torch

    default_threads = torch.get_num_threads()  # torch's own (one per core): the per-face figures' second case
    torch.set_num_threads(args.threads)  # every figure but that one: the live worker's setting
    names = args.model or ["default"]
    log(f"torch threads {args.threads}; loading", ", ".join(names))
    if args.runtime == "auto":  # as the app has them: exported, so that the faster can be chosen
        from fer.models import onnx
        from fer.store import resolve_model

        for m in names:
            onnx.cached(resolve_model(m))
    predictors = [Predictor.load(m, runtime=args.runtime) for m in names]
    for m, p in zip(names, predictors):
        log(f"{m} runs on {p.runtime}" + (f" ({p.runtime_why})" if p.runtime_why else ""))
    video = frames(args.frames)
    for p in predictors:
        p.predict(cv2.cvtColor(video[0], cv2.COLOR_BGR2RGB))  # warm-up
    timed = {m: ([], [], 0, 0.0) for m in names}
    for r in range(args.rounds):  # ABBA...: each model sees the early and the late load alike
        for m, p in (list(zip(names, predictors)) if r % 2 == 0 else list(zip(names, predictors))[::-1]):
            log(f"round {r + 1} of {args.rounds}: {m}, {len(video)} frames, naive then FrameProcessor")
            naive_ms, live_ms, agree, faces = measure(p, video)
            a, b, c, _ = timed[m]
            timed[m] = (a + naive_ms, b + live_ms, c + agree, faces)
    results = []
    for m, p in zip(names, predictors):
        naive_ms, live_ms, agree, faces = timed[m]
        live, naive = stats(live_ms), stats(naive_ms)
        log(f"{m}: per-face latency, PyTorch and onnxruntime, {args.face_runs} runs each")
        results.append({
            "model": p.label, "runtime": p.runtime, "runtime_why": p.runtime_why, "detector": p.detector,
            "frames": len(video) * args.rounds, "frame_size": "640x480",
            "faces_per_frame": round(faces, 2),
            "frame_processor": live, "naive_predict_every_frame": naive,
            "speedup": round(live["fps"] / naive["fps"], 2), "target_speedup": 2.5,
            "box_agreement_iou_0.5": round(agree / (len(video) * args.rounds), 3), "target_agreement": 0.95,
            "per_face_latency": runtimes(p, args.face_runs, default_threads, args.threads),
        })
    proc = FrameProcessor(predictors[0])
    out = {"settings": {"detect_every": proc.detect_every, "detect_width": proc.detect_width,
                        "smoothing": proc.smoothing},
           "models": results,
           "machine": {"cpus": len(os.sched_getaffinity(0)), "torch_threads": torch.get_num_threads(),
                       "load_average": os.getloadavg(), "python": platform.python_version()}}
    if len(results) > 1:
        base = results[0]["frame_processor"]["fps"]
        out["fps_against_the_first"] = {r["model"]: round(r["frame_processor"]["fps"] / base, 3) for r in results}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
