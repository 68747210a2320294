"""Choosing a model and one of its evaluations on a page; cached readers of evaluations, keyed on
the files' versions (a job that rewrites an evaluation is seen at once)."""
from __future__ import annotations

import streamlit as st

from fer import evaluation
from fer.data import DatasetError
from fer.store import Dataset, Evaluation, ModelVersion, NotFound
from fer.ui import params
from fer.ui.model_picker import chosen_model


# Cached readers key on the folder and its files' version (``stamp``); the record itself is passed
# as an underscored argument, which Streamlit does not hash.
@st.cache_data(show_spinner=False, max_entries=32)
def _read(folder: str, stamp: tuple, flip: bool, _ev: Evaluation):
    return _ev.summary(flip), _ev.predictions(flip)


def read(ev: Evaluation, flip: bool = False):
    """(summary, predictions) of an evaluation."""
    return _read(str(ev.folder), ev.stamp, flip, ev)


@st.cache_data(show_spinner="Looking for copies of the evaluated images in the training split…", max_entries=16)
def _leak_free(folder: str, stamp: tuple, train_dataset: str, datasets: tuple, _ev: Evaluation) -> dict | None:
    _, pred = read(_ev)
    try:
        return evaluation.leak_free(pred, _ev.dataset, train_dataset)
    except (DatasetError, KeyError):
        return None  # the training dataset is not in this store, or the manifest changed


def leak_free(ev: Evaluation, train_dataset: str) -> dict | None:
    """The figures on the images without a copy in the model's training split (None when the
    training dataset is not in this store)."""
    try:
        stamps = (Dataset.open(ev.dataset).stamp, Dataset.open(train_dataset).stamp)
    except (NotFound, ValueError):
        return None
    return _leak_free(str(ev.folder), ev.stamp, train_dataset, stamps, ev)


def pick(key: str) -> tuple[ModelVersion, list[Evaluation]] | None:
    """Sidebar: a model (``?model=``, or ``?run=`` as older links say) → (model, its evaluations)."""
    version = chosen_model(key, ("model", "run"))
    if version is None:
        return None
    return version, version.evaluations()


def pick_evaluation(version: ModelVersion, evals: list[Evaluation], key: str) -> Evaluation:
    """Sidebar: one of the model's evaluations (``?eval=DATASET/SPLIT`` preselects)."""
    labels = [e.label for e in evals]

    def find(eval_id: str) -> int:
        want = Evaluation.parse_id(eval_id)  # checked: a dataset name and a split, nothing else
        found = [i for i, e in enumerate(evals) if (e.dataset, e.split) == want]
        if not found:
            raise NotFound(eval_id)
        return found[0]

    index = params.resolved("eval", find, "evaluation of this model", instead=repr(labels[0])) or 0
    label = st.sidebar.selectbox("Evaluation", labels, index=index, key=f"{key}-eval")
    return evals[labels.index(label)]
