"""Warm render time of pages with Streamlit's AppTest, on FER2013 imported whole and the shipped
model's evaluation of its PrivateTest split.

    python bench/pages.py [--repeats 5] [--threads 1] [--store PATH --model MODEL --eval fer2013/test]

Without ``--store``, a temporary store is built first (not timed): ../shared/data/fer2013.zip
imported as ``fer2013`` (35,887 images) and ``default`` evaluated on its test split (3,589
images). With ``--store``, that store is used as it is (``--model``, ``--eval`` and ``--dataset``
name what it holds). Each page runs once (cold: imports, caches filled), then ``--repeats`` more
times; the median of those warm runs is reported beside the cold one. One torch thread by default
(``--threads``, in the JSON: Explain's GradCAM runs on torch; on 2 cores shared with other work
torch's two threads per op wait on each other). Prints one JSON object on stdout, progress on
stderr; about 2 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
FER2013 = REPO.parent / "shared" / "data" / "fer2013.zip"
PAGES = ["Home", "1_Dataset", "2_Quality", "3_Train", "4_Runs", "5_Evaluate", "6_Errors", "7_Explain"]


def log(*msg) -> None:
    print(time.strftime("%H:%M:%S"), *msg, file=sys.stderr, flush=True)


def build_store(store: Path, threads: int) -> None:
    """FER2013 imported whole and the shipped model evaluated on its test split, in ``store``; in
    processes of their own, so that the pages' first runs start as cold as in a new server."""
    env = {**os.environ, "FER_ARTIFACTS": str(store), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads)}
    for what, cmd in ((f"importing {FER2013.name}", ["-m", "fer", "dataset", "import", str(FER2013), "--name",
                                                     "fer2013", "--quiet"]),
                      ("evaluating default on fer2013/test", ["-m", "training.evaluate", "--run", "default",
                                                              "--dataset", "fer2013", "--split", "test"])):
        log(f"building a temporary store: {what}")
        p = subprocess.run([sys.executable, *cmd], cwd=REPO, env=env, capture_output=True, text=True, check=False)
        if p.returncode:
            raise SystemExit(f"{what} failed:\n{p.stderr[-3000:]}")
    os.environ["FER_ARTIFACTS"] = str(store)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", type=Path, help="an existing store to use as it is (default: a temporary one, built)")
    ap.add_argument("--model", "--run", default="default", help="a run id, NAME, NAME@VERSION or default")
    ap.add_argument("--eval", default="fer2013/test")
    ap.add_argument("--dataset", default="fer2013")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pages", nargs="*", default=PAGES)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: steady figures on shared cores)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    tmp = None
    if args.store:
        os.environ["FER_ARTIFACTS"] = str(args.store)
    else:
        if not FER2013.exists():
            sys.exit(f"{FER2013}: not found (or pass --store with a store that holds a dataset and an evaluation)")
        tmp = tempfile.TemporaryDirectory(prefix="fer-bench-pages-")
        build_store(Path(tmp.name) / "store", args.threads)
    import logging

    from streamlit.testing.v1 import AppTest

    # AppTest's set-up between runs calls Streamlit outside a run: one harmless warning each, not progress
    # (a filter: Streamlit sets its loggers' levels again when it reads its config)
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
        lambda record: "missing ScriptRunContext" not in record.getMessage())
    out = {}
    for page in args.pages:
        log(f"{page}: one cold run, then {args.repeats} warm")
        times = []
        for _ in range(args.repeats + 1):
            # opened as the app opens it (Home the entry point), so that links between pages resolve
            at = AppTest.from_file(str(REPO / "Home.py"), default_timeout=300)
            if page != "Home":
                at.switch_page(f"pages/{page}.py")
            at.query_params.update({"model": args.model, "eval": args.eval, "dataset": args.dataset})
            t = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t)
            if at.exception:
                raise SystemExit(f"{page}: {at.exception[0].message}")
        out[page] = {"cold_s": round(times[0], 3), "warm_median_s": round(statistics.median(times[1:]), 3)}
    print(json.dumps({"model": args.model, "eval": args.eval, "dataset": args.dataset,
                      "store": str(args.store) if args.store else "temporary (FER2013 imported whole)",
                      "pages": out, "machine": {"cpus": len(os.sched_getaffinity(0)),
                                                "torch_threads": torch.get_num_threads(),
                                                "load_average": os.getloadavg()}}, indent=2))
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
