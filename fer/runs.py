"""Training runs as the pages compare them: one row per run, runs side by side, time left.

Runs themselves (create, list, open, read, rename, delete) are records of the store
(``fer.store.Run``); promoting one to a named model is ``fer.store.promote``.
"""
from __future__ import annotations

import pandas as pd
import yaml

from fer.store import Run, RunError  # noqa: F401  (RunError: what run operations raise)


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
