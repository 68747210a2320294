"""Faults a training survives, made for real on real processes: what each costs, in one run.

    python bench/faults.py [--per-class 300] [--threads 1]

Prints one JSON object on stdout, progress on stderr. A synthetic dataset in a temporary store;
every training is ``python -m fer train --config smoke`` (fer_cnn on the CPU, 2 epochs, a checkpoint
inside an epoch every 2 s, the final evaluation on val, test and then train). The baseline is that
training left alone, in the same run: its epoch figures and how long its final evaluation of the
train split took.

- ``kill_9``: the process killed with SIGKILL inside its first epoch: seconds until the run reads
  ``failed``, seconds of training lost (since its last checkpoint), where ``--resume`` goes on, and
  whether the resumed run's epoch figures equal the baseline's.
- ``sigterm_in_final_evaluation``: SIGTERM once the train split's evaluation has begun: seconds
  until the process has ended, beside the seconds that evaluation takes when left alone.
- ``sigstop``: the process stopped (a hung writer): seconds until the run reads "not responding"
  (the heartbeat's staleness limit), whether ``--resume`` is refused meanwhile, and the epochs
  recorded once the process goes on (each once: one writer).

Four trainings and a minute's wait (2,100 images by default): about 3 minutes on 2 cores shared with
other work (load 5). Every training runs on one torch thread by default (``--threads``:
``OMP_NUM_THREADS`` for every process started, in the JSON): on 2 cores shared with other work,
torch's two threads per op wait on each other (fer_cnn trained at about 20 images/s on two
threads at load 5–6, where this bench took 15 minutes with 2,800 images; about 200 on one).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import builders as b  # noqa: E402

SETS = ["dataset=bench", "epochs=2", "checkpoint.every_seconds=2", "eval_splits=[val, test, train]"]
COMPARED = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_macro_f1", "lr")


def log(*msg) -> None:
    print(time.strftime("%H:%M:%S"), *msg, file=sys.stderr, flush=True)


class Training:
    """``python -m fer train`` in the background; every stderr line kept with when it came."""

    def __init__(self, env: dict, *args: str):
        cmd = [sys.executable, "-m", "fer", "train", *args]
        if not args:
            cmd += ["--config", "smoke", *[a for s in SETS for a in ("--set", s)]]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.run_id = self.proc.stdout.readline().split()[0]
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def when(self, start: str, timeout: float = 600) -> float:
        """When the first stderr line starting with ``start`` came (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, line in list(self.lines):
                if line.startswith(start):
                    return t
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.01)
        raise RuntimeError(f"no line {start!r}; stderr: {[line for _, line in self.lines][-10:]}")

    def wait(self) -> int:
        rc = self.proc.wait(timeout=600)
        self._reader.join(timeout=10)
        return rc

    def said(self, start: str) -> str | None:
        return next((line for _, line in self.lines if line.startswith(start)), None)


def _until(cond, timeout: float = 300, every: float = 0.02) -> float:
    t = time.monotonic()
    while not cond():
        if time.monotonic() - t > timeout:
            raise RuntimeError("timed out")
        time.sleep(every)
    return time.monotonic() - t


def _epochs(run) -> list[dict]:
    return [{k: e[k] for k in COMPARED} for e in run.metrics() if e.get("kind") == "epoch"]


def baseline(env: dict) -> dict:
    log("baseline: a training left alone")
    tr = Training(env)
    assert tr.wait() == 0
    from fer.store import Run

    return {"run": Run.open(tr.run_id), "train_split_evaluation_seconds": round(tr.when("train:") - tr.when("test:"), 2),
            "seconds": round(tr.when("train:") - tr.lines[0][0], 1)}


def kill_9(env: dict, whole: dict) -> dict:
    import torch

    from fer.store import Run

    log("kill -9 inside the first epoch, then --resume")
    tr = Training(env)
    run = Run.open(tr.run_id)
    _until(lambda: run.checkpoint_path.exists() and torch.load(run.checkpoint_path, weights_only=True)["position"])
    time.sleep(1.0)  # between two checkpoints
    tr.proc.kill()
    killed = time.monotonic()
    lost = time.time() - run.checkpoint_path.stat().st_mtime
    detect = _until(lambda: run.status()["state"] == "failed", every=0.005)
    tr.wait()
    resumed = Training(env, "--resume", run.id)
    assert resumed.wait() == 0
    return {"seconds_until_shown_failed": round(detect, 3), "seconds_of_training_lost": round(lost, 2),
            "checkpoint_every_seconds": 2, "resumed": resumed.said("resuming at"),
            "killed_after_seconds": round(killed - tr.lines[0][0], 1),
            "epoch_figures_equal_uninterrupted": _epochs(run) == _epochs(whole["run"]),
            "epochs": [e["epoch"] for e in _epochs(run)]}


def sigterm_in_final_evaluation(env: dict) -> dict:
    from fer.store import Run

    log("SIGTERM during the final evaluation of the train split")
    tr = Training(env)
    tr.when("test:")  # the val and test splits are done: the train split's evaluation runs now
    tr.proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    rc = tr.wait()
    return {"seconds_until_ended": round(time.monotonic() - sent, 2), "exit": rc, "state": Run.open(tr.run_id).state,
            "said": tr.said("stopping:")}


def sigstop(env: dict) -> dict:
    from fer.store import Run

    tr = Training(env)
    run = Run.open(tr.run_id)
    _until(lambda: any(m.get("kind") == "progress" for m in run.metrics()))
    os.kill(tr.proc.pid, signal.SIGSTOP)
    log("SIGSTOP: waiting for 'not responding' (a minute), then --resume, SIGCONT")
    try:
        shown = _until(lambda: "not responding" in run.status().get("message", ""), timeout=180, every=0.2)
        state = run.status()["state"]
        p = subprocess.run([sys.executable, "-m", "fer", "train", "--resume", run.id], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=300)
    finally:
        os.kill(tr.proc.pid, signal.SIGCONT)
    assert tr.wait() == 0
    return {"seconds_until_not_responding": round(shown, 1), "state_meanwhile": state,
            "resume_meanwhile_exit": p.returncode, "resume_said": p.stderr.strip().splitlines()[-1][:160],
            "epochs_recorded": [e["epoch"] for e in _epochs(run)]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=300, help="synthetic images per class")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of every training (default 1: steady "
                    "figures on shared cores)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        env = {**os.environ, "FER_ARTIFACTS": str(tmp / "store"), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
               "FER_DEVICE": "cpu", "OMP_NUM_THREADS": str(args.threads)}
        os.environ.update({k: env[k] for k in ("FER_ARTIFACTS", "HF_HUB_OFFLINE", "OMP_NUM_THREADS")})
        from fer.data import import_dataset

        log(f"a synthetic dataset of {7 * args.per_class} images")
        src = b.imagefolder(tmp / "src", classes=b.FER_CLASSES, per_class=args.per_class)
        import_dataset([str(src)], "bench", workers=1)
        whole = baseline(env)
        result = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_1min": round(os.getloadavg()[0], 2), "torch_threads": args.threads},
            "images": 7 * args.per_class,
            "baseline": {k: v for k, v in whole.items() if k != "run"},
            "kill_9": kill_9(env, whole),
            "sigterm_in_final_evaluation": sigterm_in_final_evaluation(env),
            "sigstop": sigstop(env),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
