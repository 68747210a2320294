"""The run panel: one training run followed on a page (progress, speed, ETA, curves, the last log
lines, Cancel and Resume)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from fer import jobs
from fer.runs import eta_seconds
from fer.store import ACTIVE, Run, RunError
from fer.ui.charts import training_curves


def _tail(path: Path, lines: int = 12) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 8192))
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def run_panel(run: Run, key: str) -> None:
    """One run: state, progress bar, speed, ETA, curves, last log lines, cancel / resume."""
    status = run.status()
    cfg = run.config()
    metrics = run.metrics()
    epochs = [m for m in metrics if m.get("kind") == "epoch"]
    progress = [m for m in metrics if m.get("kind") == "progress"]
    last = progress[-1] if progress else None
    total = cfg.get("epochs", 1)
    in_epoch = (last["batch"] / last["batches"]) if last and last["epoch"] > len(epochs) else 0.0
    st.markdown(f"**{run.name}** · `{run.id}` · {cfg.get('dataset')} · **{status['state']}**")
    st.progress(min(1.0, (len(epochs) + in_epoch) / total), text=f"{len(epochs)} of {total} epochs done"
                + (f", {in_epoch:.0%} into epoch {len(epochs) + 1}" if in_epoch else ""))
    c = st.columns(4)
    c[0].metric("images/s", f"{last['images_per_s']:.0f}" if last else "—")
    c[1].metric("time left", _minutes(eta_seconds(epochs, in_epoch, total)) if status["state"] == "running" else "—")
    c[2].metric("best val F1", f"{max(e['val_macro_f1'] for e in epochs):.3f}" if epochs else "—")
    c[3].metric("val loss", f"{epochs[-1]['val_loss']:.3f}" if epochs else "—")
    if epochs:
        st.plotly_chart(training_curves({run.name: pd.DataFrame(epochs)}), key=f"curves-{key}")
    if status.get("error"):
        st.error(status["error"])
    log = _tail(run.log_path)
    if log:
        st.code(log, language=None)
    b = st.columns(4)
    if status["state"] in ACTIVE and b[0].button("Cancel", key=f"cancel-{key}",
                                                 help="stops after the current batch; the weights so far are kept"):
        st.toast(f"{run.id}: {jobs.cancel(run.folder)}")
    if status["state"] in ("cancelled", "failed", "refused") and b[0].button(
            "Resume", key=f"resume-{key}", help="continues from the last saved epoch"):
        try:
            jobs.resume_run(run.id)
            st.toast(f"{run.id}: resumed")
        except (RunError, ValueError) as e:
            st.error(str(e))
