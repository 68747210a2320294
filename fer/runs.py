"""Training runs of the store: create, list, read curves, rename, delete, promote.

A run's id never changes; its name is a display field in run.json.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from fer import jobs, store


class RunError(ValueError):
    pass


def folder(run_id: str) -> Path:
    store.check_name(run_id)
    f = store.runs_dir() / run_id
    if not (f / "run.json").exists():
        raise RunError(f"no run {run_id!r} in {store.runs_dir()}")
    return f


def create(cfg: dict) -> Path:
    """A new run folder with its resolved config, queued state and an immutable id."""
    run_id = jobs.new_id()
    f = store.runs_dir() / run_id
    f.mkdir(parents=True)
    name = cfg.get("name") or f"{cfg['model']['backbone']} on {cfg['dataset']}"
    store.write_json(f / "run.json", {"id": run_id, "name": name, "created": jobs.now(), "dataset": cfg["dataset"],
                                      "tags": []})
    store.write_text(f / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
    jobs.write_status(f, state="queued", queued=jobs.now())
    return f


def config(run_id_or_folder) -> dict:
    f = Path(run_id_or_folder) if isinstance(run_id_or_folder, Path) else folder(run_id_or_folder)
    return yaml.safe_load((f / "config.yaml").read_text("utf-8"))


def metrics(f: Path) -> list[dict]:
    """Lines of metrics.jsonl; a torn last line (a process killed mid-write) is skipped."""
    out = []
    try:
        text = (Path(f) / "metrics.jsonl").read_text("utf-8")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def append_metrics(f: Path, record: dict) -> None:
    with open(Path(f) / "metrics.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def epochs(f: Path) -> pd.DataFrame:
    return pd.DataFrame([m for m in metrics(f) if m.get("kind") == "epoch"])


def _summary(f: Path, split: str = "test") -> dict:
    meta = store.read_json(f / "run.json", {}) or {}
    for p in sorted((f / "eval").glob(f"*/{split}/summary.json")):
        if p.parent.parent.name == meta.get("dataset"):
            return store.read_json(p, {}) or {}
    return {}


def table() -> pd.DataFrame:
    """One row per run: name, state, data, recipe, best val F1, test figures, duration."""
    rows = []
    root = store.runs_dir()
    for f in sorted(root.iterdir(), reverse=True) if root.is_dir() else []:
        if not (f / "run.json").exists():
            continue
        meta = store.read_json(f / "run.json", {}) or {}
        st = jobs.status(f)
        try:
            cfg = config(f)
        except (OSError, yaml.YAMLError):
            cfg = {}
        ep = epochs(f)
        test = _summary(f)
        m = cfg.get("model", {})
        rows.append({
            "id": f.name, "name": meta.get("name"), "state": st["state"], "dataset": meta.get("dataset"),
            "backbone": m.get("backbone"), "transfer": m.get("transfer"), "input": m.get("input_size"),
            "lr": (cfg.get("optimizer") or {}).get("lr"), "batch": cfg.get("batch_size"),
            "epochs": f"{len(ep)}/{cfg.get('epochs')}",
            "best_val_f1": float(ep["val_macro_f1"].max()) if "val_macro_f1" in ep else None,
            "test_accuracy": test.get("accuracy"), "test_f1": test.get("macro_f1"),
            "minutes": round(float(ep["epoch_seconds"].sum()) / 60, 1) if "epoch_seconds" in ep else None,
            "created": meta.get("created"),
        })
    return pd.DataFrame(rows)


def rename(run_id: str, name: str) -> None:
    f = folder(run_id)
    if not name.strip():
        raise RunError("a run's name cannot be empty")
    meta = store.read_json(f / "run.json", {})
    store.write_json(f / "run.json", {**meta, "name": name.strip()})


def delete(run_id: str) -> None:
    f = folder(run_id)
    if jobs.status(f)["state"] in jobs.ACTIVE:
        raise RunError(f"run {run_id} is {jobs.status(f)['state']}: cancel it first")
    trash = f.with_name(f".{f.name}.deleting-{time.time_ns()}")
    f.rename(trash)  # gone from listings at once, then removed
    shutil.rmtree(trash, ignore_errors=True)


def promote(run_id: str, model_name: str) -> Path:
    """Copy a finished run's weights, model.json and evaluations to ``models/<model_name>/``
    (``default`` makes it the model every page and ``Predictor.load("default")`` use)."""
    f = folder(run_id)
    store.check_name(model_name)
    if not (f / "model.safetensors").exists():
        raise RunError(f"run {run_id} has no weights yet")
    target = store.models_dir() / model_name
    tmp = store.models_dir() / f".{model_name}.promoting-{time.time_ns()}"
    tmp.mkdir(parents=True)
    for name in ("model.safetensors", "model.json", "config.yaml", "card.md"):
        if (f / name).exists():
            shutil.copy2(f / name, tmp / name)
    if (f / "eval").exists():
        shutil.copytree(f / "eval", tmp / "eval")
    store.write_json(tmp / "source.json", {"run": run_id, "promoted": jobs.now()})
    if target.exists():
        old = target.with_name(f".{model_name}.old-{time.time_ns()}")
        target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(target)
    return target


def compare(run_ids: list[str]) -> pd.DataFrame:
    """Runs side by side: recipe, best validation epoch, and every evaluation's figures."""
    rows = []
    for r in run_ids:
        f = folder(r)
        cfg = config(f)
        ep = epochs(f)
        row = {"run": (store.read_json(f / "run.json", {}) or {}).get("name", r), "id": r,
               "backbone": cfg["model"]["backbone"], "transfer": cfg["model"]["transfer"], "epochs": len(ep)}
        if not ep.empty:
            best = ep.loc[ep["val_macro_f1"].idxmax()]
            row.update({"best epoch": int(best["epoch"]), "val accuracy": best["val_accuracy"],
                        "val macro-F1": best["val_macro_f1"]})
        for split_dir in sorted((f / "eval").glob("*/*")):
            s = store.read_json(split_dir / "summary.json", {}) or {}
            tag = f"{split_dir.parent.name}/{split_dir.name}"
            for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1"):
                if k in s:
                    row[f"{tag} {k.replace('_', ' ')}"] = s[k]
        rows.append(row)
    return pd.DataFrame(rows)


def train_command(run_id: str) -> list[str]:
    # "--resume" on a fresh run starts it; on a stopped one it continues from last.pt
    return [sys.executable, "-m", "training.train", "--resume", run_id]


def resume(run_id: str, device: str | None = None) -> Path:
    """Queue a cancelled or failed run again: it continues from its last checkpoint."""
    f = folder(run_id)
    state = jobs.status(f)["state"]
    if state in jobs.ACTIVE:
        raise RunError(f"run {run_id} is {state} already")
    if state == "finished":
        raise RunError(f"run {run_id} has finished; start a new run to train longer")
    jobs.submit(f, train_command(run_id), kind="train", device=device)
    return f


def eta_seconds(epochs_done: list[dict], progress: float, total_epochs: int) -> float | None:
    """Seconds left, from the mean time of the last three epochs and the current one's progress."""
    if not epochs_done:
        return None
    recent = epochs_done[-3:]
    per_epoch = sum(e["epoch_seconds"] for e in recent) / len(recent)
    return max(0.0, (total_epochs - len(epochs_done) - progress) * per_epoch)
