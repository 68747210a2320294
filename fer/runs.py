"""Training runs as the pages compare them: one row per run, runs side by side, time left.

Runs themselves (create, list, open, read, rename, delete) are records of the store
(``fer.store.Run``); promoting one to a named model is ``fer.store.promote``.
"""
from __future__ import annotations

import pandas as pd
import yaml

from fer.data import exclusions, manifest
from fer.store import Run, RunError, resolve_model  # noqa: F401  (RunError: what run operations raise)


def _test_summary(run: Run) -> dict:
    """The run's test figures on its own dataset."""
    try:
        ev = run.model().evaluation(f"{run.dataset}/test")
    except ValueError:  # no weights, no such evaluation, or no dataset recorded
        return {}
    return ev.summary()


# The Runs table's columns, the ones people decide by first; the id (what links carry) last.
TABLE_COLUMNS = ["name", "state", "dataset", "test_accuracy", "test_f1", "best_val_f1", "backbone", "epochs",
                 "minutes", "created", "transfer", "input", "lr", "batch", "id"]


def table() -> pd.DataFrame:
    """One row per run, newest first: name, state, dataset, test figures, best val F1, recipe,
    duration, when; the id last."""
    rows = []
    for run in Run.list():
        try:
            cfg = run.config()
        except (OSError, yaml.YAMLError):
            cfg = {}
        ep = run.epochs()
        test = _test_summary(run)
        m = cfg.get("model", {})
        rows.append({
            "id": run.id, "name": run.name, "state": run.state, "dataset": run.dataset,
            "backbone": m.get("backbone"), "transfer": m.get("transfer"), "input": m.get("input_size"),
            "lr": (cfg.get("optimizer") or {}).get("lr"), "batch": cfg.get("batch_size"),
            "epochs": f"{len(ep)}/{cfg.get('epochs')}",
            "best_val_f1": float(ep["val_macro_f1"].max()) if "val_macro_f1" in ep else None,
            "test_accuracy": test.get("accuracy"), "test_f1": test.get("macro_f1"),
            "minutes": round(float(ep["epoch_seconds"].sum()) / 60, 1) if "epoch_seconds" in ep else None,
            "created": pd.to_datetime(run.meta().get("created"), utc=True, errors="coerce"),
        })
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def compare(run_ids: list[str]) -> pd.DataFrame:
    """Runs side by side: recipe, best validation epoch, and every evaluation's figures."""
    rows = []
    for r in run_ids:
        run = Run.open(r)
        cfg = run.config()
        ep = run.epochs()
        row = {"run": run.name, "id": r, "backbone": cfg["model"]["backbone"], "transfer": cfg["model"]["transfer"],
               "epochs": len(ep)}
        if not ep.empty:
            best = ep.loc[ep["val_macro_f1"].idxmax()]
            row.update({"best epoch": int(best["epoch"]), "val accuracy": best["val_accuracy"],
                        "val macro-F1": best["val_macro_f1"]})
        for ev in run.model().evaluations() if run.has_weights else []:
            s = ev.summary()
            for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1"):
                if k in s:
                    row[f"{ev.id} {k.replace('_', ' ')}"] = s[k]
        rows.append(row)
    return pd.DataFrame(rows)


def eta_seconds(epochs_done: list[dict], progress: float, total_epochs: int) -> float | None:
    """Seconds left, from the mean time of the last three epochs and the current one's progress."""
    if not epochs_done:
        return None
    recent = epochs_done[-3:]
    per_epoch = sum(e["epoch_seconds"] for e in recent) / len(recent)
    return max(0.0, (total_epochs - len(epochs_done) - progress) * per_epoch)


# -- what a training will cost ---------------------------------------------------------------

RESUME_GAP = 3.0  # an epoch whose wall time is over this many times its training time spans a pause
SMALL = 2000  # images an epoch under which a run says little about speed
BUSY = 0.6  # a CPU run that got less than this share of its threads' time ran beside other work


def speed_key(cfg: dict, device: str) -> tuple:
    """What training speed depends on most: backbone, input size, channels, batch size and the
    kind of device."""
    m = cfg.get("model") or {}
    return (m.get("backbone"), m.get("input_size"), m.get("channels"), cfg.get("batch_size"), device)


def run_speed(run: Run) -> dict | None:
    """The speed a run measured: ``{"key", "images_per_s", "images", "busy"}``, training images
    per second of wall time per epoch (training, validation, checkpoints: epochs after the first,
    when there are some, and none that spans a pause), the median over its epochs; ``images`` per
    epoch; ``busy`` when, on a CPU, the process got under ``BUSY`` of its threads' time (other work
    shared the cores: its speed says more about that moment than about the machine). None before
    its first epoch."""
    ep = run.epochs()
    if ep.empty or not {"images_per_s", "epoch_seconds", "time"} <= set(ep):
        return None
    seen = ep["images_per_s"] * ep["epoch_seconds"]
    wall = ep["time"].diff()
    ok = (wall > 0) & (wall <= RESUME_GAP * ep["epoch_seconds"] + 60)
    speeds = (seen / wall)[ok] if ok.any() else ep["images_per_s"]
    try:
        meta = run.model().meta()
    except ValueError:  # no weights yet: no record of the hardware
        return None
    device = "cuda" if (meta.get("hardware") or {}).get("gpu") else "cpu"
    busy = False
    if device == "cpu" and {"cpu_seconds", "threads"} <= set(ep):  # runs of before this was recorded: not judged
        share = ep["cpu_seconds"] / (ep["epoch_seconds"] * ep["threads"]).clip(lower=1e-9)
        busy = bool(share.median() < BUSY)
    return {"key": speed_key(run.config(), device), "images_per_s": float(speeds.median()),
            "images": float(seen.median()), "busy": busy}


def shipped_speed() -> dict | None:
    """The speed the shipped model's own training measured (training time only), from its model.json."""
    try:
        meta = resolve_model("default@shipped").meta()
    except ValueError:
        return None
    if meta.get("members"):  # an ensemble: the speed its first member's training measured
        meta = meta["members"][0]
    m, cfg = meta.get("metrics") or {}, (meta.get("training") or {}).get("config") or {}
    images = ((meta.get("data") or {}).get("splits") or {}).get("train")
    if not (m.get("train_seconds") and m.get("epochs_run") and images):
        return None
    device = "cuda" if (meta.get("hardware") or {}).get("gpu") else "cpu"
    return {"key": speed_key(cfg, device), "images_per_s": images * m["epochs_run"] / m["train_seconds"],
            "threads": (meta.get("hardware") or {}).get("torch_threads")}


def measured_speeds() -> dict[tuple, dict]:
    """Speed key → ``{"images_per_s", "basis", "guess"}``: the median speed of every run of this
    store with that key (never only the latest: one busy run does not swing it). Runs on a small
    dataset (under ``SMALL`` images an epoch: an epoch's fixed cost dominates) and runs on a busy
    machine are left out while others are there; without others, the shipped model's own training
    speaks for its key; failing that, the estimate is said to be a guess and from what."""
    found: dict[tuple, list[dict]] = {}
    for run in Run.list():
        try:
            measured = run_speed(run)
        except (OSError, ValueError, yaml.YAMLError):
            continue
        if measured:
            found.setdefault(measured["key"], []).append(measured)
    shipped = shipped_speed()
    out = {}
    for key in set(found) | ({shipped["key"]} if shipped else set()):
        runs_ = found.get(key, [])
        good = [r["images_per_s"] for r in runs_ if r["images"] >= SMALL and not r["busy"]]
        left = len(runs_) - len(good)
        if good:
            out[key] = {"images_per_s": float(pd.Series(good).median()), "guess": False,
                        "basis": f"the median of {len(good)} run(s) here" + (
                            f" ({left} on a small dataset or a busy machine left out)" if left else "")}
        elif shipped and shipped["key"] == key:
            out[key] = {"images_per_s": shipped["images_per_s"], "guess": False,
                        "basis": f"the shipped model's training ({shipped['threads']} CPU threads)"}
        else:
            why = ", ".join(w for w, hit in (("on a small dataset", any(r["images"] < SMALL for r in runs_)),
                                             ("on a busy machine", any(r["busy"] for r in runs_))) if hit)
            out[key] = {"images_per_s": float(pd.Series([r["images_per_s"] for r in runs_]).median()), "guess": True,
                        "basis": f"{len(runs_)} run(s) here, all {why}: a guess until a run on a larger dataset and "
                                 "a quiet machine measures it"}
    return out


def estimate(cfg: dict, train_images: int, device: str, speeds: dict[tuple, dict]) -> dict:
    """How long ``cfg`` will train on ``train_images`` images: images × epochs ÷ the speed measured
    for its backbone and input size on this kind of device (``seconds`` None: never measured)."""
    speed = speeds.get(speed_key(cfg, device))
    images = train_images * int(cfg.get("epochs") or 0)
    ips = speed["images_per_s"] if speed else None
    return {"images": images, "device": device, "images_per_s": ips, "basis": speed["basis"] if speed else None,
            "guess": bool(speed and speed["guess"]), "seconds": images / ips if ips else None}


def duration(seconds: float | None) -> str:
    """``about 5 min``, ``about 1 h 20 min``, ``unknown``."""
    if seconds is None:
        return "unknown"
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    return f"about {minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"about {minutes} min"


def train_images(dataset: str) -> int:
    """The images a training on ``dataset`` sees each epoch: its usable train rows (no corrupt,
    no excluded)."""
    return int((exclusions.usable(manifest(dataset), dataset)["split"] == "train").sum())
