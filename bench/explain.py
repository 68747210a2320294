"""Grad-CAM time per image on the CPU, for each supported architecture, beside the bare forward
and backward pass it is built on (measured in the same run).

    python bench/explain.py [--repeats 5] [--threads 1]

One torch thread by default (``--threads``, in the JSON): on 2 cores shared with other work,
torch's two threads per op wait on each other and the figures swing many-fold (fer_cnn's GradCAM
15 ms on one thread, 770 ms on two at load 5); ``--threads 2`` measures two on a quiet machine.
Prints one JSON object on stdout, progress on stderr; about a minute on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer import explain  # noqa: E402
from fer import models  # noqa: E402

CASES = [("fer_cnn", 1, 48), ("resnet18", 3, 112), ("resnet50", 3, 224), ("convnext_tiny", 3, 224),
         ("efficientnet_b0", 3, 224), ("mobilenetv3_large_100", 3, 224), ("vgg16_bn", 3, 224),
         ("vit_tiny_patch16_224", 3, 224), ("facenet_vggface2", 3, 160)]


def log(*msg) -> None:
    print(time.strftime("%H:%M:%S"), *msg, file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: steady figures on shared cores)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = []
    for arch, ch, size in CASES:
        log(f"{arch} at {size} px: a warm-up, then {args.repeats} GradCAM and forward + backward each")
        m = models.build({"backbone": arch, "channels": ch, "dropout": 0.0}).eval()
        meta = {"architecture": arch, "normalisation": {"mean": [0.5] * ch, "std": [0.25] * ch}}
        crop = np.random.default_rng(0).integers(0, 255, (size, size, ch), dtype=np.uint8)
        x = models.crop_input(crop, meta)
        explain.explain(m, meta, crop)  # warm-up

        def bare():
            x.requires_grad_(True)
            m(x)[0, 3].backward()
            m.zero_grad(set_to_none=True)

        bare()
        times, bare_times = [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            explain.explain(m, meta, crop)
            times.append(time.perf_counter() - t)
            t = time.perf_counter()
            bare()
            bare_times.append(time.perf_counter() - t)
        out.append({"architecture": arch, "input": f"{size}px x{ch}", "gradcam_ms": round(1000 * float(np.median(times)), 1),
                    "forward_backward_ms": round(1000 * float(np.median(bare_times)), 1)})
    print(json.dumps({"device": "cpu", "cpus": len(os.sched_getaffinity(0)), "torch_threads": torch.get_num_threads(),
                      "torch": torch.__version__, "python": platform.python_version(), "cases": out}, indent=2))


if __name__ == "__main__":
    main()
