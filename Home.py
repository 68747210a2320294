"""FER Studio — home: what the tool does, what the store holds, the settings, the next step."""
from pathlib import Path

import pandas as pd
import streamlit as st

from fer import overview, settings, store
from fer.ui import page

page.start("FER Studio", tab="FER Studio", icon="🙂")
st.markdown(
    "Facial emotion recognition from end to end: bring datasets in (FER2013, RAF-DB, AffectNet, KDEF, "
    "CK+, JAFFE or any class-per-folder tree) and harmonise them onto seven classes "
    "(angry, disgust, fear, happy, sad, surprise, neutral) with reproducible train / val / test splits; "
    "screen them for corrupt, blank, too dark or too bright images, duplicates and label conflicts; "
    "then align faces, train and compare models, read their errors and run them on photos, videos and a camera."
)

data = overview.datasets()
runs = overview.runs()
models = overview.models()
active = overview.active_jobs()

st.subheader("The store")
st.caption(f"`{store.root()}` (set `FER_ARTIFACTS` to move it)")
c = st.columns(5)
c[0].metric("Datasets", len(data))
c[1].metric("Images", f"{sum(d['images'] for d in data):,}")
c[2].metric("Runs", len(runs))
c[3].metric("Models", len(models))
c[4].metric("Running jobs", len(active))

if data:
    st.dataframe(pd.DataFrame(data), hide_index=True, width="stretch", placeholder="—")
else:
    st.info("No dataset yet. Import one from a folder, a .zip or a FER2013 CSV (the format is detected):")
    st.code("python -m fer dataset import path/to/fer2013.zip --name fer2013", language="bash")
    st.caption("Several sources make one dataset; `--map joy=happy` maps a label of yours onto a class. "
               "`python -m fer dataset import --help` lists every format.")
if active:
    st.dataframe(pd.DataFrame(active), hide_index=True, width="stretch", placeholder="—")
if runs:
    st.dataframe(pd.DataFrame(runs), hide_index=True, width="stretch", placeholder="—")

st.subheader("Default model")
dm = overview.default_model()
if dm is None:
    st.caption("None yet: promote a finished run to `default` on the Runs page.")
else:
    origin = "shipped with FER Studio" if dm["shipped"] else f"promoted by you (version {dm['version']} of default)"
    figures = (f"; test accuracy {dm['test_accuracy']:.2%}, macro-F1 {dm['test_macro_f1']:.3f}"
               if dm["test_accuracy"] is not None else "")
    st.markdown(f"**{dm['architecture']}** ({dm['input']}), trained on {dm['dataset']}, {origin}{figures}.")
    st.caption(f"`{dm['folder']}`" + (f" · its card: `{Path(dm['card']).name}` beside the weights" if dm["card"] else ""))

st.subheader("Settings in force")
try:
    s = settings.load()
except ValueError as e:
    st.error(f"The settings cannot be read: {e}. Fix or delete the file; the defaults apply meanwhile.")
else:
    rows = [
        ("import roots", " · ".join(s.import_roots), "folders the app may import from"),
        ("device", s.device, "auto picks a GPU when there is one"),
        ("max_jobs", str(s.max_jobs), "imports, trainings and evaluations run at once; more wait in a queue"),
        ("ice_servers", ", ".join(str(x.get("urls")) for x in s.ice_servers) or "none",
         "STUN/TURN for the camera off localhost"),
    ]
    st.dataframe(pd.DataFrame([{"setting": k, "value": v, "from": s.origin[k.replace(" ", "_")], "meaning": m}
                               for k, v, m in rows]), hide_index=True, width="stretch", placeholder="—")
    st.caption(f"Saved in `{settings.path()}`; FER_IMPORT_ROOTS, FER_DEVICE, FER_MAX_JOBS, FER_ICE_SERVERS override it.")
st.page_link("pages/10_Settings.py", label="Change the settings")

st.subheader("Next step")
if not data:
    st.markdown("Import a dataset, with the command above or in the browser; it appears here with its classes and "
                "splits.")
    st.page_link("pages/1_Dataset.py", label="Import a dataset in the browser")
else:
    st.page_link("pages/1_Dataset.py", label="Explore a dataset: classes, splits, images, faces")
    st.page_link("pages/2_Quality.py", label="Review the flagged images and decide what to keep")
    st.page_link("pages/3_Train.py", label="Train a model on a dataset")
    st.page_link("pages/4_Runs.py", label="Compare runs and promote the best one")
if dm is not None:
    st.page_link("pages/8_Predict.py", label="Find the emotions in your photos and videos")
    st.page_link("pages/9_Live.py", label="Run the live camera")
