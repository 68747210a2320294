"""Import speed: the whole import of a FER2013 zip against a bare decode loop, in one run.

    python bench/import_dataset.py [ZIP] [--workers N]      (default ../shared/data/fer2013.zip)

Prints one JSON object on stdout: wall time per stage, images/s, and the ratio of the whole import
to a bare loop that only reads and decodes every image of the same zip in one process (target
≤ 2). The import decodes in a pool of ``--workers`` processes (default: one per core, as the app
imports; in the JSON). Progress on stderr; well under a minute on 2 cores.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from fer.images import is_image_name  # noqa: E402


def bare_decode(path: Path) -> tuple[int, float]:
    t = time.perf_counter()
    n = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if is_image_name(info.filename):
                Image.open(io.BytesIO(zf.read(info))).load()
                n += 1
    return n, time.perf_counter() - t


def log(*msg) -> None:
    print(time.strftime("%H:%M:%S"), *msg, file=sys.stderr, flush=True)


def progress(stage: str, done: int, total: int, last: list = [None]) -> None:  # noqa: B006 - the stage seen last
    if stage != last[0] or done == total:
        log(f"import: {stage} {done} of {total}")
        last[0] = stage


def main() -> None:
    default = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fer2013.zip"
    ap = argparse.ArgumentParser()
    ap.add_argument("zip", nargs="?", type=Path, default=default)
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                    help="decoding processes of the import (default: one per core, as the app imports)")
    args = ap.parse_args()
    src = args.zip
    if not src.exists():
        sys.exit(f"{src}: not found (pass a FER2013 zip)")
    with tempfile.TemporaryDirectory() as store:
        os.environ["FER_ARTIFACTS"] = store
        from fer.data import import_dataset

        log(f"bare decode loop of {src.name}, twice (the first warms the page cache for both)")
        bare_decode(src)
        n_bare, t_bare = bare_decode(src)
        log(f"bare loop: {n_bare} images in {t_bare:.2f} s; now the import, {args.workers} workers")
        r = import_dataset([str(src)], "bench", progress=progress, workers=args.workers)
    total = r.seconds["total"]
    print(json.dumps({
        "source": src.name,
        "images": len(r.manifest),
        "stages_s": {k: round(v, 2) for k, v in r.seconds.items()},
        "images_per_s": round(len(r.manifest) / total, 1),
        "bare_decode_s": round(t_bare, 2),
        "bare_images_per_s": round(n_bare / t_bare, 1),
        "ratio_to_bare": round(total / t_bare, 2),
        "target_ratio": 2.0,
        "workers": args.workers,
        "machine": {"cpus": len(os.sched_getaffinity(0)), "load_average": os.getloadavg(),
                    "python": platform.python_version(),
                    "platform": platform.platform()},
    }, indent=2))


if __name__ == "__main__":
    main()
