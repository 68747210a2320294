"""Choosing and loading a model on a page (default preselected; runs and named models listed)."""
from __future__ import annotations

import streamlit as st

from fer import jobs, models, store
from fer.ui import params


def choices() -> dict[str, str]:
    """label → what ``Predictor.load`` takes; ``default`` first when there is one."""
    out = {}
    try:
        f = models.resolve("default")
        out[f"default ({'shipped' if f == models.SHIPPED else 'models/default'})"] = "default"
    except models.ModelNotFound:
        pass
    if store.models_dir().is_dir():
        for f in sorted(store.models_dir().iterdir()):
            if f.name != "default" and (f / "model.json").exists():
                out[f"model {f.name}"] = f.name
    if store.runs_dir().is_dir():
        for f in sorted(store.runs_dir().iterdir(), reverse=True):
            if (f / "model.safetensors").exists() and jobs.status(f)["state"] == "finished":
                name = (store.read_json(f / "run.json", {}) or {}).get("name", f.name)
                out[f"run {name} ({f.name})"] = f.name
    return out


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def load_predictor(folder: str, detector: str | None):
    from fer.predict import Predictor

    return Predictor.load(folder, detector=detector)


def picker(key: str = "model"):
    """Model and detector widgets in the sidebar; returns a loaded ``Predictor`` or None."""
    options = choices()
    if not options:
        st.info("No model yet: train one on the Train page, or import a dataset and run "
                "`python -m training.train --config training/configs/fer2013_cpu.yaml`.")
        return None
    labels = list(options)
    wanted = params.wanted("model", list(options.values()), "model or run", instead=repr(labels[0]))
    index = next((i for i, l in enumerate(labels) if options[l] == wanted), 0)
    label = st.sidebar.selectbox("Model", labels, index=index, key=f"{key}-model")
    folder = str(models.resolve(options[label]))
    trained = (models.read_meta(folder).get("face") or {}).get("detector") or "mtcnn"
    detector = st.sidebar.selectbox("Face detector", ["as trained", "mtcnn", "haar"], key=f"{key}-detector",
                                    help=f"this model's faces were prepared with {trained}; Haar is faster, MTCNN "
                                         "finds more faces and levels the eyes")
    predictor = load_predictor(folder, None if detector == "as trained" else detector)
    if predictor.warning:
        st.sidebar.warning(predictor.warning)
    return predictor
