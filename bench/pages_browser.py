"""How long each page takes where a user waits: in Chromium, from navigation until Streamlit stops
running the page, first and warm; beside the AppTest figure (the script alone) of the same page.

    python bench/pages_browser.py [--repeats 5] [--store DIR] [--hogs 0] [--pages Home Dataset ...]

The store (``--store``, made once and reused; default a fresh one in a temporary folder) holds
FER2013 imported whole (``../shared/data/fer2013.zip``), the shipped model's evaluation on its
test split, and three runs (the ``smoke`` preset on ``fer2013-mini``, so that building it takes
seconds, not hours). The app is started on it (``streamlit run Home.py``, this checkout) and each
page opened in Debian's Chromium at 1400×1000: **first** is its first visit after the server
started (imports, caches filled), **warm** the median of ``--repeats`` more visits, each a fresh
navigation (``page.goto``) timed until the app's script state is ``notRunning`` (what the
running indicator shows). ``--hogs N`` keeps N busy loops (``yes > /dev/null``, normal priority)
running beside the app while the pages are timed (the "busy" figures). The load average is
recorded before and after. One JSON object; progress on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
SHARED = REPO.parent / "shared" / "data"

from live_browser import CHROMIUM_ARGS, start_server  # noqa: E402  (bench/live_browser.py)

# page → (its script, its URL path, the query string it is measured with)
PAGES = {
    "Home": ("Home.py", "", ""),
    "Dataset": ("pages/1_Dataset.py", "Dataset", "dataset=fer2013"),
    "Quality": ("pages/2_Quality.py", "Quality", "dataset=fer2013"),
    "Train": ("pages/3_Train.py", "Train", ""),
    "Runs": ("pages/4_Runs.py", "Runs", ""),
    "Evaluate": ("pages/5_Evaluate.py", "Evaluate", "model=default&eval=fer2013/test"),
    "Errors": ("pages/6_Errors.py", "Errors", "model=default&eval=fer2013/test"),
    "Explain": ("pages/7_Explain.py", "Explain", "model=default&eval=fer2013/test"),
    "Predict": ("pages/8_Predict.py", "Predict", ""),
    "Live": ("pages/9_Live.py", "Live", ""),
    "Settings": ("pages/10_Settings.py", "Settings", ""),
    "Activity": ("pages/11_Activity.py", "Activity", ""),
}
DONE_JS = """() => { const a = document.querySelector('[data-testid="stApp"]');
  return !!a && a.dataset.testScriptState === 'notRunning'; }"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def build_store(store: Path) -> None:
    """FER2013 whole, the shipped model's test evaluation, three smoke runs on fer2013-mini."""
    env = {**os.environ, "FER_ARTIFACTS": str(store), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}

    def fer(*args):
        subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    if not (store / "datasets" / "fer2013").is_dir():
        log("importing FER2013 (35,887 images)…")
        fer("fer", "dataset", "import", str(SHARED / "fer2013.zip"), "--name", "fer2013")
    if not (store / "datasets" / "mini").is_dir():
        fer("fer", "dataset", "import", str(SHARED / "fer2013-mini.zip"), "--name", "mini")
    if not list((store / "evals").glob("*/fer2013/test/summary.json")):
        log("evaluating the shipped model on fer2013/test…")
        fer("training.evaluate", "--run", "default", "--dataset", "fer2013", "--split", "test")
    have = len(list((store / "runs").glob("*/model.safetensors"))) if (store / "runs").is_dir() else 0
    for k in range(have, 3):
        log(f"training run {k + 1} of 3 (smoke on fer2013-mini)…")
        fer("fer", "train", "--config", "smoke", "--set", "dataset=mini", "--set", f"seed={k}")


def apptest_figures(store: Path, names: list[str], repeats: int) -> dict:
    """The page's script alone under AppTest (warm median of ``repeats``), in a process of its own."""
    code = f"""
import json, statistics, sys, time
sys.path.insert(0, {str(REPO)!r})
from streamlit.testing.v1 import AppTest
files, queries, out = {json.dumps({n: PAGES[n][0] for n in names})}, {json.dumps({n: PAGES[n][2] for n in names})}, {{}}
for name, file in files.items():
    times = []
    for _ in range({repeats} + 1):
        at = AppTest.from_file({str(REPO / "Home.py")!r}, default_timeout=300)
        if file != "Home.py":
            at.switch_page(file)
        for kv in filter(None, queries[name].split("&")):
            k, v = kv.split("=", 1)
            at.query_params[k] = v
        t = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t)
    out[name] = {{"first_s": round(times[0], 2), "warm_s": round(statistics.median(times[1:]), 2)}}
print(json.dumps(out))
"""
    env = {**os.environ, "FER_ARTIFACTS": str(store), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    if p.returncode:
        raise SystemExit(f"AppTest failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def browser_figures(base: str, names: list[str], repeats: int) -> dict:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(REPO / "tests" / "e2e"))
    from conftest import find_chromium

    out = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        for name in names:
            _, path, query = PAGES[name]
            url = f"{base}/{path}" + (f"?{query}" if query else "")
            times = []
            for _ in range(repeats + 1):
                t = time.perf_counter()
                page.goto(url, wait_until="commit")
                page.wait_for_function(DONE_JS, timeout=300_000, polling=20)
                times.append(time.perf_counter() - t)
            errors = page.locator('[data-testid="stException"]').count()
            out[name] = {"first_s": round(times[0], 2), "warm_s": round(statistics.median(times[1:]), 2),
                         "warm_all_s": [round(x, 2) for x in times[1:]], "exceptions": errors}
            log(f"{name}: first {times[0]:.2f} s, warm {out[name]['warm_s']:.2f} s")
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="warm visits per page (their median is given)")
    ap.add_argument("--store", type=Path, help="a store to make once and reuse (default: a temporary one)")
    ap.add_argument("--pages", nargs="*", default=list(PAGES), choices=list(PAGES))
    ap.add_argument("--no-apptest", action="store_true", help="the browser figures only")
    ap.add_argument("--hogs", type=int, default=0, help="busy loops beside the app while the pages are timed")
    args = ap.parse_args()
    load_start = os.getloadavg()
    tmp = None
    store = args.store
    if store is None:
        tmp = Path(tempfile.mkdtemp(prefix="fer-pages-"))
        store = tmp / "store"
    try:
        t0 = time.monotonic()
        build_store(store)
        built_s = time.monotonic() - t0
        log(f"store ready in {built_s:.0f} s; starting the app beside {args.hogs} busy loop(s)…")
        load_before = os.getloadavg()
        hogs = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(args.hogs)]
        try:
            proc, base = start_server(REPO, store, 0, (tmp or store) / "streamlit.log")
            try:
                browser = browser_figures(base, args.pages, args.repeats)
            finally:
                subprocess.run(["kill", "--", f"-{proc.pid}"], check=False)
                proc.wait()
            log("AppTest figures…")
            apptest = {} if args.no_apptest else apptest_figures(store, args.pages, min(args.repeats, 3))
            load_end = os.getloadavg()
        finally:
            for h in hogs:
                h.kill()
        pages = {n: {"browser": browser[n], "apptest": apptest.get(n)} for n in args.pages}
        slowest = max(pages, key=lambda n: pages[n]["browser"]["warm_s"])
        print(json.dumps({"pages": pages, "slowest_warm": {slowest: pages[slowest]["browser"]["warm_s"]},
                          "store_seconds": round(built_s, 1), "viewport": "1400x1000", "repeats": args.repeats,
                          "hogs": args.hogs,
                          "load_average": {"at_start": load_start, "before_pages": load_before,
                                           "at_end": load_end},
                          "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version()}},
                         indent=1))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
