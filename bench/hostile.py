"""Hostile input and concurrent writers: what each costs and what survives, in one run.

    python bench/hostile.py [--threads 1]

Prints one JSON object on stdout, progress on stderr; under a minute on 2 cores. Bombs (built in a
temporary folder): each is imported by ``python -m fer dataset import`` in its own process, with its
peak resident memory (the largest of the import and its pool workers), seconds and store growth,
beside a bare import of the same 600 small images without the bomb. Decisions: two processes and two
threads writing 500 each; how many of the 1,000 are in ``exclusions.csv`` afterwards. Model zips
that claim to be huge (a 446-byte zip naming vit_large, an ensemble of 12 of them, a model.json
nested 100,000 deep), each imported by ``python -m fer model import`` with its peak memory, beside
importing the shipped model's own zip. Two sessions on one model: Grad-CAM in one thread while
another classifies batches of 4 faces on the same loaded model, 36 maps: exceptions, and maps that
differ from those computed alone. One torch thread by default (``--threads``, in the JSON; every
process started gets ``OMP_NUM_THREADS`` alike): on 2 cores shared with other work, torch's two
threads per op wait on each other and the seconds swing several-fold.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import builders as b  # noqa: E402

GiB = 2**30
ZEROS = "train/happy/zeros.png"


def log(*msg) -> None:
    print(time.strftime("%H:%M:%S"), *msg, file=sys.stderr, flush=True)


def images_zip(dest: Path, base: Path | None = None, n: int = 600) -> Path:
    if base and base != dest:
        shutil.copyfile(base, dest)
    with zipfile.ZipFile(dest, "a" if base else "w") as zf:
        for i in range(n):
            zf.writestr(f"train/{('happy', 'sad')[i % 2]}/{i}.png", b.image_bytes((24, 24), seed=i))
    return dest


def imported(src: Path, tmp: Path, **env) -> dict:
    log(f"python -m fer dataset import {src.name}")
    store = Path(tempfile.mkdtemp(dir=tmp))
    env = {**os.environ, "FER_ARTIFACTS": str(store), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", **env}
    r = b.run_measured([sys.executable, "-m", "fer", "dataset", "import", str(src), "--name", "x"], env)
    from fer import store as fer_store

    return {"exit": r["rc"], "peak_rss_mib": round(r["peak_kib"] / 1024), "seconds": round(r["seconds"], 2),
            "store_growth_kib": round(fer_store.disk_usage(store) / 1024),
            "said": r["stderr"].strip().splitlines()[-1][:200]}


def decisions(tmp: Path) -> dict:
    from fer.data import exclusions

    out = {}
    writer = ("import os, sys, time\nfrom fer.data import exclusions\nwhile not os.path.exists(sys.argv[2]): "
              "time.sleep(0.001)\nfor i in range(500):\n    exclusions.record('d', [f'{sys.argv[1]}/{i}'], 'exclude')\n")
    os.environ["FER_ARTIFACTS"] = str(tmp / "procs")
    go = tmp / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log("decisions: two processes writing 500 each")
    t = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", writer, tag, str(go)], env=env) for tag in "ab"]
    go.touch()
    for p in procs:
        p.wait()
    out["two_processes"] = {"kept": len(exclusions.read("d")), "of": 1000, "seconds": round(time.perf_counter() - t, 2)}
    os.environ["FER_ARTIFACTS"] = str(tmp / "threads")
    log("decisions: two threads writing 500 each")
    barrier = threading.Barrier(2)

    def click(tag):
        barrier.wait()
        for i in range(500):
            exclusions.record("d", [f"{tag}/{i}"], "exclude")

    t = time.perf_counter()
    threads = [threading.Thread(target=click, args=(tag,)) for tag in "ab"]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out["two_threads"] = {"kept": len(exclusions.read("d")), "of": 1000, "seconds": round(time.perf_counter() - t, 2)}
    return out


def model_imports(tmp: Path) -> dict:
    from test_hostile import HOSTILE

    from fer.models import model_zip
    from fer.store import resolve_model

    out = {}
    cases = {"valid (the shipped model's zip)": lambda: model_zip.zip_bytes(resolve_model("default")),
             **{k: make for k, (make, _) in HOSTILE.items()}}
    for name, make in cases.items():
        log(f"python -m fer model import: {name}")
        data = make()
        path = tmp / f"{len(out)}.zip"
        path.write_bytes(data)
        env = {**os.environ, "FER_ARTIFACTS": tempfile.mkdtemp(dir=tmp), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
        r = b.run_measured([sys.executable, "-m", "fer", "model", "import", str(path), "--name", "m"], env)
        out[name] = {"zip_bytes": len(data), "exit": r["rc"], "peak_rss_mib": round(r["peak_kib"] / 1024),
                     "seconds": round(r["seconds"], 2), "said": (r["stderr"].strip().splitlines() or [r["stdout"].strip()])[-1][:160]}
    return out


def two_sessions_on_one_model() -> dict:
    import numpy as np

    from fer import explain
    from fer.predict import Predictor

    log("Grad-CAM in one thread while another classifies, on one model")
    p = Predictor.load("default")
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (48, 48), dtype=np.uint8) for _ in range(6)]
    batch = [rng.integers(0, 255, (48, 48), dtype=np.uint8) for _ in range(4)]
    alone = [explain.explain(p.model, p.meta, c, "GradCAM", target=k % 7)[0] for k, c in enumerate(crops)]
    errors, wrong, done, classified = [], [0], threading.Event(), [0]

    def explaining():
        for r in range(36):
            try:
                heat = explain.explain(p.model, p.meta, crops[r % 6], "GradCAM", target=r % 6 % 7)[0]
                wrong[0] += not np.allclose(heat, alone[r % 6], atol=1e-6)
            except Exception as e:  # noqa: BLE001 - counted
                errors.append(type(e).__name__)
        done.set()

    def classifying():
        while not done.is_set():
            p.classify(batch)
            classified[0] += 1

    threads = [threading.Thread(target=explaining), threading.Thread(target=classifying)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return {"maps": 36, "exceptions": len(errors), "maps_unlike_alone": wrong[0], "batches_classified": classified[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1, help="torch threads here and in every process started "
                    "(default 1: steady figures on shared cores)")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the processes started (torch reads it when it loads)
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        log("building a 2 GiB member of zeros into a zip")
        t = time.perf_counter()
        zeros = b.zip_of_zeros(tmp / "zeros.zip", ZEROS, 2 * GiB)
        build = time.perf_counter() - t
        pixels = tmp / "pixels.zip"
        with zipfile.ZipFile(pixels, "w") as zf:
            zf.writestr("train/happy/huge.png", b.png_of_zeros(30_000))
        images_zip(pixels, pixels)  # same 600 images beside it
        result = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_1min": round(os.getloadavg()[0], 2), "torch_threads": args.threads},
            "bomb_zip_bytes": zeros.stat().st_size, "bomb_build_seconds": round(build, 2),
            "baseline_600_images": imported(images_zip(tmp / "plain.zip"), tmp),
            "zeros_2gib_refused": imported(zeros, tmp),
            "zeros_2gib_flagged_ratio_lifted": imported(images_zip(tmp / "mixed.zip", zeros), tmp,
                                                        FER_ZIP_MAX_RATIO="1000000"),
            "png_30000x30000_flagged": imported(pixels, tmp),
            "decisions": decisions(tmp),
            "model_zip_imports": model_imports(tmp),
            "two_sessions_on_one_model": two_sessions_on_one_model(),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
