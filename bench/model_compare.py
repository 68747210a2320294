"""Two or more models side by side, in one run, on every evaluation the store can make of them.

    python bench/model_compare.py --model default@shipped-1 --model default [--dataset fer2013] [--photos 600]

For each model: its evaluation on the dataset's ``val`` and ``test`` splits (FER2013 PublicTest and
PrivateTest), made now through ``fer.evaluation`` as the Evaluate page makes it (with the model's own
test-time augmentation), with the leak-free accuracy (the test images without a byte-identical or
near copy in the training split), macro-F1, expected calibration error and the recall of each
class; then **faces composed into photos** as ``bench/faces.py`` composes them (PrivateTest faces
upscaled to 70–220 px at random places on face-free photos) and predicted through the whole
pipeline (MTCNN, eye alignment, the model's crop): how many faces are found and how many of those
get their label; then **speed where users wait**, each model on the runtime the app would choose
for it (``runtime="auto"``) and on both runtimes, one thread each (onnxruntime's and PyTorch's):
the milliseconds a face (``Predictor.classify`` on one face, its flip TTA and temperature
included) and the live pipeline's frames/s (``FrameProcessor`` on ``bench/live.py``'s frames),
the models measured in alternating rounds so that they see the same load. Differences are given
against the first model. Prints one JSON object.
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
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from faces import SHARED, backgrounds, compose, hit  # noqa: E402  (bench/faces.py)
from live import frames, per_face, stats  # noqa: E402  (bench/live.py)

from fer.evaluation import analysis  # noqa: E402
from fer.evaluation.evaluate import evaluate_model  # noqa: E402
from fer.labels import CLASSES  # noqa: E402
from fer.live import FrameProcessor  # noqa: E402
from fer.predict import Predictor  # noqa: E402
from fer.store import layout, resolve_model  # noqa: E402


def store_figures(ref: str, dataset: str) -> dict:
    version = resolve_model(ref)
    out = {}
    for split in ("val", "test"):
        t = time.perf_counter()
        summary, folder = evaluate_model(version, dataset, split)  # on the runtime the app would choose
        pred = pd.read_parquet(folder / layout.evaluation_files()[1])
        ece, _ = analysis.calibration(pred)
        lf = analysis.leak_free(pred, dataset, dataset) if split == "test" else None
        out[split] = {"n": summary["n"], "runtime": summary.get("runtime"), "accuracy": round(summary["accuracy"], 4),
                      "macro_f1": round(summary["macro_f1"], 4), "ece": round(float(ece), 4),
                      "recall": {c: round(summary["per_class"][c]["recall"], 4) for c in CLASSES},
                      "seconds": round(time.perf_counter() - t, 1)}
        if lf is not None:
            out[split]["leak_free_accuracy"] = round(lf["accuracy"], 4)
            out[split]["leak_free_n"] = lf["n"]
    return out


def composed_photos(zip_path: Path, n: int, seed: int = 0) -> list[tuple[np.ndarray, tuple, int]]:
    """(photo, placed box, label) for ``n`` PrivateTest faces (the same ones for every model)."""
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(m for m in zf.namelist() if "/test/" in m and m.endswith(".jpg"))
        pick = rng.choice(len(names), size=min(n, len(names)), replace=False)
        faces = [(np.asarray(Image.open(io.BytesIO(zf.read(names[i]))).convert("RGB")),
                  CLASSES.index(names[i].split("/")[-2])) for i in pick]
    bgs = backgrounds()
    out = []
    for k, (face, label) in enumerate(faces):
        photo, box = compose(face, bgs[k % len(bgs)], rng)
        out.append((photo, box, label))
    return out


def photo_figures(ref: str, photos) -> dict:
    predictor = Predictor.load(ref)
    found = right = 0
    t = time.perf_counter()
    for photo, box, label in photos:
        results = predictor.predict(photo)
        mine = [r for r in results if hit([_face(r)], box)]
        if mine:
            found += 1
            right += mine[0].label == CLASSES[label]
    return {"photos": len(photos), "faces_found": found, "accuracy_of_found": round(right / max(found, 1), 4),
            "accuracy_counting_misses": round(right / len(photos), 4),
            "seconds": round(time.perf_counter() - t, 1)}


def live(predictor, video: list[np.ndarray]) -> list[float]:
    """Milliseconds a frame of the live pipeline (``FrameProcessor`` with its defaults)."""
    proc, ms = FrameProcessor(predictor), []
    for f in video:
        t = time.perf_counter()
        proc.process(f)
        ms.append((time.perf_counter() - t) * 1000)
    return ms


def speed_figures(refs: list[str], faces_runs: int, frames_n: int, rounds: int) -> dict[str, dict]:
    """Per model: ms a face and the live pipeline's frames/s on each runtime, and which one
    ``auto`` picks; one thread each, models in alternating rounds. (The model shipped before ran
    on PyTorch: its ``torch`` figures are what users had.)"""
    import skimage.data
    import torch

    torch.set_num_threads(1)  # onnxruntime runs on fer.models.onnx.THREADS = 1 as well
    both = {ref: {rt: Predictor.load(ref, runtime=rt) for rt in ("torch", "onnx")} for ref in refs}
    chosen = {ref: Predictor.load(ref, runtime="auto") for ref in refs}  # once exported, as the app has it
    crop = chosen[refs[0]].predict(skimage.data.astronaut())[0].crop
    video = frames(frames_n)
    for runtimes in both.values():
        for p in runtimes.values():
            p.predict(cv2.cvtColor(video[0], cv2.COLOR_BGR2RGB))  # warm-up
    face_ms = {ref: {"torch": [], "onnx": []} for ref in refs}
    live_ms = {ref: {"torch": [], "onnx": []} for ref in refs}
    for r in range(rounds):  # ABBA: each model sees the early and the late load alike
        for ref in refs if r % 2 == 0 else refs[::-1]:
            for rt, p in both[ref].items():
                face_ms[ref][rt].append(per_face(p, crop, faces_runs)["median_ms"])
                live_ms[ref][rt] += live(p, video)
    out = {}
    for ref in refs:
        rt = chosen[ref].runtime
        out[ref] = {"default_runtime": rt, "why": chosen[ref].runtime_why, "threads": 1,
                    "ms_a_face": {k: round(float(np.median(v)), 2) for k, v in face_ms[ref].items()},
                    "live_fps": {k: stats(v)["fps"] for k, v in live_ms[ref].items()}}
        out[ref]["ms_a_face"]["default"] = out[ref]["ms_a_face"][rt]
        out[ref]["live_fps"]["default"] = out[ref]["live_fps"][rt]
    return out


def _face(result):
    from fer.faces import Face

    return Face(result.box, result.score, None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", required=True, help="a model (NAME, NAME@VERSION, run id, folder); "
                    "two or more, the first as the baseline")
    ap.add_argument("--dataset", default="fer2013", help="a dataset of the store with val and test splits")
    ap.add_argument("--photos", type=int, default=600, help="PrivateTest faces composed into photos")
    ap.add_argument("--zip", type=Path, default=SHARED / "fer2013.zip")
    ap.add_argument("--face-runs", type=int, default=200, help="classifications timed per runtime and round")
    ap.add_argument("--frames", type=int, default=120, help="live frames per model and round")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of the speed figures")
    args = ap.parse_args()
    import torch

    photos = composed_photos(args.zip, args.photos) if args.zip.exists() else None
    from fer.models import onnx

    models = []
    for ref in args.model:
        version = resolve_model(ref)
        onnx.cached(version)  # exported (and timed) first, as the app does: evaluations run on the faster runtime
        row = {"model": ref, "resolved": version.ref, "sha256": version.sha256()[:12],
               "architecture": version.meta()["architecture"], "tta": version.meta().get("tta"),
               "weights_mib": round((version.folder / layout.WEIGHTS).stat().st_size / 2**20, 1),
               "store": store_figures(ref, args.dataset)}
        if photos is not None:
            row["composed_photos"] = photo_figures(ref, photos)
        models.append(row)
    print("speed…", file=sys.stderr)
    speeds = speed_figures(args.model, args.face_runs, args.frames, args.rounds)
    for row in models:
        row["speed"] = speeds[row["model"]]
    base = models[0]
    for m in models[1:]:
        m["against_the_first"] = {
            f"{split}_{k}": round(m["store"][split][k] - base["store"][split][k], 4)
            for split in ("val", "test") for k in ("accuracy", "macro_f1", "ece", "leak_free_accuracy")
            if k in m["store"][split]}
        if photos is not None:
            for k in ("accuracy_of_found", "accuracy_counting_misses"):
                m["against_the_first"][f"photos_{k}"] = round(m["composed_photos"][k] - base["composed_photos"][k], 4)
        m["against_the_first"]["ms_a_face_default_runtime"] = round(
            m["speed"]["ms_a_face"]["default"] - base["speed"]["ms_a_face"]["default"], 2)
        for rt in ("default", "torch"):  # against the first on its default, and on PyTorch (what it ran on before)
            m["against_the_first"][f"live_fps_ratio_to_first_{rt}"] = round(
                m["speed"]["live_fps"]["default"] / base["speed"]["live_fps"][rt], 3)
        m["against_the_first"]["test_recall"] = {
            c: round(m["store"]["test"]["recall"][c] - base["store"]["test"]["recall"][c], 4) for c in CLASSES}
    print(json.dumps({"dataset": args.dataset, "models": models,
                      "machine": {"cpus": len(os.sched_getaffinity(0)), "torch_threads": torch.get_num_threads(),
                                  "load_average": os.getloadavg(), "python": platform.python_version()}}, indent=1))


if __name__ == "__main__":
    main()
