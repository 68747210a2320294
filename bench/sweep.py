"""Sweeps on the mini dataset, from the command line and from the Train page, beside a bare
baseline measured in the same run: one plain training of the same preset and epochs.

    python bench/sweep.py [--trials 6] [--epochs 4] [--threads 1]

Imports ../shared/data/fer2013-mini.zip into a temporary store, trains the baseline in the
foreground, runs ``python -m fer sweep`` (lr log-uniform 1e-4..1e-2, dropout uniform 0..0.5),
then the same sweep from the Train page through AppTest (press Sweep, wait for the job), and
renders the study on the Runs page. Prints one JSON object: the conditions (cores, load), the
baseline's seconds, and for each sweep its trials, pruned trials (at which epoch), epochs trained
against trials x epochs, and seconds. Progress on stderr; about 2 minutes on 2 cores.

Every training (the baseline's, the trials') runs on one torch thread by default (``--threads``:
``OMP_NUM_THREADS`` for every process started, in the JSON): on 2 cores shared with other work,
torch's two threads per op wait on each other (a 4-epoch smoke training took 29 s on two threads
and 10 s on one at load 5, and 182 s at load 9–15). The figures (trials, pruning, best value) are
deterministic for a thread count, but differ between thread counts.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MINI = REPO.parent / "shared" / "data" / "fer2013-mini.zip"
SEARCH = ["--search", "optimizer.lr=loguniform:1e-4:1e-2", "--search", "model.dropout=uniform:0:0.5"]


def log(*msg) -> None:
    print(time.strftime("%H:%M:%S"), *msg, file=sys.stderr, flush=True)


def fer(*args, env) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "fer", *args], cwd=REPO, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"python -m fer {' '.join(args)} failed:\n{p.stderr[-3000:]}")
    return p


def study_figures(name: str, seconds: float, epochs: int) -> dict:
    from fer.sweeps import studies

    study = studies.load(name)
    table = studies.trials_table(study)
    c = studies.counts(study)
    return {"trials": int(len(table)), "complete": c.get("complete", 0), "pruned": c.get("pruned", 0),
            "failed": c.get("fail", 0), "pruned_at_epoch": [int(e) for e in table["pruned at epoch"].dropna()],
            "epochs_trained": int(table["epochs reported"].sum()), "epochs_without_pruning": int(len(table)) * epochs,
            "best_value": (studies.best(study) or {}).get("value"), "seconds": round(seconds, 1),
            "trial_seconds": [s for s in table["seconds"].tolist()]}


def page_sweep(name: str, trials: int, epochs: int) -> tuple[float, dict]:
    import logging

    from streamlit.testing.v1 import AppTest

    from fer import jobs

    # AppTest's set-up calls Streamlit outside a run: a harmless warning each time, not progress
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
        lambda record: "missing ScriptRunContext" not in record.getMessage())
    at = AppTest.from_file(str(REPO / "pages" / "3_Train.py"), default_timeout=120).run()
    at.selectbox(key="sweep-dataset").set_value("mini")
    at.selectbox(key="sweep-preset").set_value("smoke").run()
    at.text_input(key="sweep-name").set_value(name)
    at.number_input(key="sweep-trials").set_value(trials)
    at.number_input(key="sweep-epochs-smoke").set_value(epochs)
    t0 = time.perf_counter()
    at.button(key="sweep-start").click().run()
    if at.exception or not at.success:
        raise SystemExit(f"the Train page did not start the sweep: {at.exception} {[e.value for e in at.error]}")
    job = next(j for j in jobs.listing() if j["kind"] == "sweep" and j["state"] in jobs.ACTIVE)
    while jobs.status(job["folder"])["state"] in jobs.ACTIVE:
        time.sleep(2)
    seconds = time.perf_counter() - t0
    runs = AppTest.from_file(str(REPO / "pages" / "4_Runs.py"), default_timeout=120)
    runs.query_params["study"] = name
    runs.run()
    shown = {"exception": bool(runs.exception), "charts": len(runs.get("plotly_chart")),
             "metrics": {m.label: m.value for m in runs.metric}, "job_state": jobs.status(job["folder"])["state"]}
    return seconds, shown


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of every training (default 1: steady "
                    "figures on shared cores)")
    a = ap.parse_args()
    store = tempfile.mkdtemp(prefix="fer-bench-sweep-")
    # the page's sweep job is started from this process: it inherits OMP_NUM_THREADS from here
    os.environ.update({"FER_ARTIFACTS": store, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(a.threads)})
    sys.path.insert(0, str(REPO))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    out = {"machine": {"cores": os.cpu_count(), "load_before": os.getloadavg(), "torch_threads": a.threads},
           "dataset": "fer2013-mini (280 train, "
           "32 val, 38 test)", "preset": "smoke", "epochs": a.epochs, "trials": a.trials}
    log(f"importing {MINI.name} into {store}")
    fer("dataset", "import", str(MINI), "--name", "mini", "--quiet", env=env)

    log(f"baseline: one plain training of {a.epochs} epochs")
    t0 = time.perf_counter()
    fer("train", "--config", "smoke", "--set", "dataset=mini", "--set", f"epochs={a.epochs}", env=env)
    out["baseline_one_training_seconds"] = round(time.perf_counter() - t0, 1)

    log(f"python -m fer sweep: {a.trials} trials of {a.epochs} epochs")
    t0 = time.perf_counter()
    p = fer("sweep", "--config", "training/configs/smoke.yaml", "--set", "dataset=mini", "--set", f"epochs={a.epochs}",
            *SEARCH, "--trials", str(a.trials), "--parallel", "1", "--name", "cli", "--json", env=env)
    out["cli"] = {**study_figures("cli", time.perf_counter() - t0, a.epochs), "json": json.loads(p.stdout)}

    log(f"the Train page's sweep: {a.trials} trials of {a.epochs} epochs, then the Runs page")
    seconds, shown = page_sweep("page", a.trials, a.epochs)
    out["page"] = {**study_figures("page", seconds, a.epochs), "runs_page": shown}
    out["machine"]["load_after"] = os.getloadavg()
    out["store"] = store
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
