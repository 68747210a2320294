"""Choosing a model and one of its evaluations on a page; cached readers of evaluation files."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from fer import evaluation, models
from fer.evaluation.evaluate import eval_root
from fer.ui import params
from fer.ui.models import choices


@st.cache_data(show_spinner=False, max_entries=32)
def load_eval(eval_dir: str, mtime: float):
    return evaluation.load(Path(eval_dir))


def read(eval_dir: Path):
    return load_eval(str(eval_dir), (Path(eval_dir) / "predictions.parquet").stat().st_mtime)


@st.cache_data(show_spinner="Looking for copies of the evaluated images in the training split…", max_entries=16)
def leak_free(eval_dir: str, mtime: float, eval_dataset: str, train_dataset: str) -> dict | None:
    from fer.data import DatasetError

    _, pred = evaluation.load(Path(eval_dir))
    try:
        return evaluation.leak_free(pred, eval_dataset, train_dataset)
    except (DatasetError, KeyError):
        return None  # the training dataset is not in this store, or the manifest changed


def evaluations_of(model_x: str) -> dict[str, Path]:
    """'dataset / split' → evaluation folder."""
    try:
        root = eval_root(model_x)
    except models.ModelNotFound:
        return {}
    return {f"{p.parent.name} / {p.name}": p for p in evaluation.find(root)}


def pick(key: str) -> tuple[str, str, dict[str, Path]] | None:
    """Sidebar: a model (``?run=`` preselects) → (label, model_x, its evaluations)."""
    options = choices()
    if not options:
        return None
    labels = list(options)
    wanted = params.wanted("run", list(options.values()), "model or run", instead=repr(labels[0]))
    index = next((i for i, lab in enumerate(labels) if options[lab] == wanted), 0)
    label = st.sidebar.selectbox("Model", labels, index=index, key=f"{key}-model")
    return label, options[label], evaluations_of(options[label])
