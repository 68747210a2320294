"""Models in and out of the app: the runtime choice (PyTorch or onnxruntime), an ONNX file and a
model zip to download, and a model zip to import. Each is one call from a page; the work is done
by ``fer.models.onnx`` and ``fer.models.model_zip``, as for ``python -m fer model export|import``."""
from __future__ import annotations

import streamlit as st

from fer import actions
from fer.actions import Actor
from fer.store import ModelVersion, check_name, layout

RUNTIMES = {"the faster": "auto", "PyTorch": "torch", "onnxruntime": "onnx"}


def runtime_choice(key: str) -> str:
    """A sidebar choice of the runtime: ``"auto"`` (the default), ``"torch"`` or ``"onnx"``."""
    label = st.sidebar.radio("Runtime", list(RUNTIMES), key=f"{key}-runtime", horizontal=True,
                             help="the faster: onnxruntime where the model's ONNX export measured it faster than "
                                  "PyTorch (the shipped model's export ships with it; another model is exported "
                                  "in the background on first use and runs on PyTorch until then). onnxruntime "
                                  "runs on the CPU with one thread; an export is checked against PyTorch first.")
    return RUNTIMES[label]


def _file_name(version: ModelVersion, suffix: str) -> str:
    base = version.ref.replace("@", "-") if version.kind != "folder" else version.folder.name
    return f"{base}{suffix}"


def export_buttons(version: ModelVersion, key: str = "export") -> None:
    """Download this version as an ONNX file (exported and checked on request) or as a model zip."""
    from fer.models import model_zip, onnx  # torch and onnxruntime: only on the page that exports

    prepared = st.session_state.setdefault(f"{key}-files", {})
    cols = st.columns(2)
    with cols[0]:
        ident = ("onnx", version.ref, version.stamp)
        if ident not in prepared and st.button("Export ONNX", key=f"{key}-onnx-{version.ref}",
                                               help="probabilities for normalised N x C x H x W float32 input; the "
                                                    "preprocessing and the model's identity in its metadata"):
            with st.spinner("Exporting and checking against PyTorch…"):
                try:
                    prepared[ident] = onnx.onnx_bytes(version)
                except ValueError as e:
                    st.error(str(e))
        if ident in prepared:
            data, parity = prepared[ident]
            st.download_button(f"Download {_file_name(version, '.onnx')}", data, _file_name(version, ".onnx"),
                               "application/octet-stream", key=f"{key}-onnx-dl-{version.ref}")
            st.caption(f"onnxruntime against PyTorch: max |Δp| {parity['max_abs_diff']:.2g} (at most "
                       f"{parity['tolerance']:g})")
    with cols[1]:
        ident = ("zip", version.ref, version.stamp, onnx.exported(version) is not None)
        if ident not in prepared and st.button("Prepare the model zip", key=f"{key}-zip-{version.ref}",
                                               help="weights, model card, config and the ONNX file once it is "
                                                    "exported"):
            prepared[ident] = model_zip.zip_bytes(version)
        if ident in prepared:
            st.download_button(f"Download {_file_name(version, '.zip')}", prepared[ident], _file_name(version, ".zip"),
                               "application/zip", key=f"{key}-zip-dl-{version.ref}")


def import_form(actor: Actor, key: str = "import", locked: bool = False) -> ModelVersion | None:
    """Upload a model zip and add it as a new version of a name (the actor's action); the version
    made, or None. ``locked``: drawn disabled (this session may not change what a name serves)."""
    with st.form(key, clear_on_submit=False):
        upload = st.file_uploader(f"A model zip ({layout.WEIGHTS} + {layout.MODEL_META}, as the app exports it)", type=["zip"],
                                  key=f"{key}-file", disabled=locked)
        name = st.text_input("Model name", key=f"{key}-name", help="the import adds a version to this name and makes "
                             "it current, as a promotion does", disabled=locked)
        submitted = st.form_submit_button("Import", disabled=locked)
    if not submitted:
        return None
    if upload is None:
        st.warning("Choose a model zip first.")
        return None
    try:
        check_name(name.strip(), "model name")
        with st.spinner("Checking the zip…"):
            version, contents = actions.models.import_zip(actor, upload.getvalue(), name.strip(), label=upload.name)
    except (ValueError, actions.Refused) as e:
        st.error(str(e))
        return None
    st.success(f"{version.ref}: imported from {upload.name} ({contents.meta['architecture']}); now the current "
               f"{version.name}.")
    if contents.ignored:
        st.caption(f"The zip's {layout.ONNX_MODEL} was not kept: the app makes its own export from the weights "
                   "when it is first needed.")
    return version
