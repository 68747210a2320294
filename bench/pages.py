"""Warm render time of pages with Streamlit's AppTest, on the store $FER_ARTIFACTS points at.

    python bench/pages.py --model MODEL_ID --eval fer2013/test [--repeats 5]

Each page runs once (cold: imports, caches filled), then ``--repeats`` more times; the median
of those warm runs is reported beside the cold one.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    from streamlit.testing.v1 import AppTest

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", "--run", default="default", help="a run id, NAME, NAME@VERSION or default")
    ap.add_argument("--eval", default="fer2013/test")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pages", nargs="*", default=["Home", "5_Evaluate", "6_Errors", "7_Explain", "3_Train", "4_Runs"])
    args = ap.parse_args()
    out = {}
    for page in args.pages:
        times = []
        for _ in range(args.repeats + 1):
            # opened as the app opens it (Home the entry point), so that links between pages resolve
            at = AppTest.from_file(str(REPO / "Home.py"), default_timeout=300)
            if page != "Home":
                at.switch_page(f"pages/{page}.py")
            at.query_params.update({"model": args.model, "eval": args.eval})
            t = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t)
            if at.exception:
                raise SystemExit(f"{page}: {at.exception[0].message}")
        out[page] = {"cold_s": round(times[0], 3), "warm_median_s": round(statistics.median(times[1:]), 3)}
    print(json.dumps({"model": args.model, "eval": args.eval, "pages": out}, indent=2))


if __name__ == "__main__":
    main()
