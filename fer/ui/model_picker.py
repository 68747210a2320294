"""The model picker: choose a model on a page (``default`` preselected; named models, finished
runs and cancelled ones with weights listed; ``?model=`` takes any model id, ``NAME@VERSION``
included) and load it once."""
from __future__ import annotations

import streamlit as st

from fer import catalog
from fer.store import DEFAULT, Model, ModelNotFound, ModelVersion, Run, resolve_model
from fer.ui import params


def choices() -> dict[str, ModelVersion]:
    """label → model version: the current version of every named model (``default`` first when
    there is one), the shipped model whatever ``default`` is now, then every finished run."""
    out = {}
    for m in Model.list():
        try:
            v = m.current()
        except ModelNotFound:
            continue
        label = f"default ({v.version if v.kind == 'shipped' else f'version {v.version}'})" if m.name == DEFAULT \
            else f"model {m.name} (version {v.version})"
        out[label] = v
    shipped = catalog.shipped()
    if shipped is not None and shipped.ref not in {v.ref for v in out.values()}:
        out["shipped (the model inside FER Studio)"] = shipped
    for run in Run.list():
        state = run.state
        if run.has_weights and state in ("finished", "cancelled"):  # a cancelled run keeps loadable weights
            out[f"run {run.name} ({run.id}{', cancelled' if state == 'cancelled' else ''})"] = run.model()
    return out


def chosen_model(key: str, params_read: tuple[str, ...] = ("model",)) -> ModelVersion | None:
    """A model chosen in the sidebar; the first of ``params_read`` in the query string (a model id:
    a run id, ``NAME``, ``NAME@VERSION``) preselects it, an earlier version of a name included,
    and one the store refuses gets a warning. None when there is no model at all."""
    options = choices()
    param = next((p for p in params_read if st.query_params.get(p)), params_read[0])
    want = params.resolved(param, lambda v: resolve_model(v, allow_paths=False), "model or run",
                           instead=repr(next(iter(options), "no model")))
    index = 0
    if want is not None:
        refs = [v.ref for v in options.values()]
        if want.ref not in refs:
            options[want.ref] = want
            refs.append(want.ref)
        index = refs.index(want.ref)
    if not options:
        return None
    label = st.sidebar.selectbox("Model", list(options), index=index, key=f"{key}-model")
    return options[label]


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _predictor(ref: str, stamp: tuple, detector: str | None, runtime: str, exported: bool):
    from fer.predict import Predictor  # torch: loaded on the pages that run a model

    return Predictor.load(resolve_model(ref, allow_paths=False), detector=detector, runtime=runtime,
                          export_later=True)


def _exported(version: ModelVersion) -> bool:
    """Whether the version has an ONNX export now: the runtime "auto" chose without one is
    chosen again once the background export has made it."""
    from fer.models import onnx

    return onnx.exported(version) is not None


def load_predictor(version: ModelVersion, detector: str | None = None, runtime: str = "auto"):
    """A ``Predictor`` for this exact version (and runtime), loaded once per version of its files.
    A model that cannot be loaded (or an ONNX export that failed its check) stops the page with one
    error, the sidebar kept to pick another; a broken store ``default`` gives the shipped model with
    a warning."""
    try:
        exported = runtime == "auto" and _exported(version)
        predictor = _predictor(version.ref, version.stamp, detector, runtime, exported)
    except ValueError as e:  # ModelError: a damaged or mismatched model folder
        st.error(f"This model cannot be used: {e}. Pick another model in the sidebar.")
        st.stop()
    if predictor.fallback:
        st.warning(predictor.fallback)
    return predictor


def picker(key: str = "model", runtime: str = "auto"):
    """Model and detector widgets in the sidebar; returns a loaded ``Predictor`` (on ``runtime``:
    ``"auto"``, ``"torch"`` or ``"onnx"``, ``fer.ui.model_io.runtime_choice``) or None."""
    version = chosen_model(key)
    if version is None:
        st.info("No model yet: train one on the Train page, or import a dataset and run "
                "`python -m fer train --config fer2013_cpu --set dataset=NAME`.")
        return None
    try:
        trained = (version.meta().get("face") or {}).get("detector") or "mtcnn"
    except (OSError, ValueError, AttributeError):  # a damaged model.json: load_predictor says what is wrong
        trained = "mtcnn"
    detector = st.sidebar.selectbox("Face detector", ["as trained", "mtcnn", "haar"], key=f"{key}-detector",
                                    help=f"this model's faces were prepared with {trained}; Haar is faster, MTCNN "
                                         "finds more faces and levels the eyes")
    predictor = load_predictor(version, None if detector == "as trained" else detector, runtime)
    if predictor.runtime_why:
        st.sidebar.caption(f"On {'onnxruntime' if predictor.runtime == 'onnx' else 'PyTorch'}: {predictor.runtime_why}.")
    if predictor.warning:
        st.sidebar.warning(predictor.warning)
    return predictor
