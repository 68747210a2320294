"""Explain: where a model looked (Grad-CAM and relatives), for a dataset image or an upload."""
import numpy as np
import streamlit as st

from fer import evaluation, explain
from fer.data.arrays import prepare_one
from fer.draw import png_bytes
from fer.images import ImageError, load_rgb
from fer.labels import CLASSES
from fer.store import Dataset, NotFound
from fer.ui import charts, page, params
from fer.ui.evals import pick, pick_evaluation, read
from fer.ui.model_picker import load_predictor

page.start("Explain")
picked = pick("explain")
if picked is None:
    st.info("No model yet: train one on the Train page.")
    st.stop()
version, evals = picked
label = version.label
predictor = load_predictor(version, runtime="torch")  # Grad-CAM hooks the PyTorch network
model, meta = predictor.model, predictor.meta
size, channels = predictor.size, predictor.channels

method = st.sidebar.selectbox("Method", explain.METHODS)
if method in explain.SLOW:
    st.sidebar.warning(explain.SLOW[method])
target_mode = st.sidebar.radio("Target", ["predicted class", "true class", "a class"])
target_class = st.sidebar.selectbox("Class", CLASSES, disabled=target_mode != "a class")
layer = st.sidebar.text_input("Target layer (module name)", value="",
                              help="empty: the architecture's usual layer (e.g. layer4[-1] for ResNets)").strip() or None
opacity = st.sidebar.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05)
q = st.query_params


def show_crop(crop, true_label=None, key="one"):
    p = predictor.classify([crop])[0]
    pred_idx = int(p.argmax())
    if target_mode == "true class" and true_label is None:
        st.warning("An upload has no true class: explaining the predicted one.")
    t = {"predicted class": pred_idx, "true class": true_label if true_label is not None else pred_idx,
         "a class": CLASSES.index(target_class)}[target_mode]
    try:
        heat, _ = explain.explain(model, meta, crop, method, t, layer)
    except ValueError as e:
        st.error(str(e))
        return
    rgb = crop if crop.ndim == 3 and crop.shape[2] == 3 else np.repeat(crop.reshape(size, size, 1), 3, axis=2)
    over = explain.overlay(crop, heat, opacity)
    cols = st.columns(4)
    cols[0].image(rgb, caption="input" + (f" (true: {CLASSES[true_label]})" if true_label is not None else ""),
                  width="stretch")
    cols[1].image(explain.heat_rgb(heat), caption=f"{method} for {CLASSES[t]}", width="stretch")
    cols[2].image(over, caption="overlay", width="stretch")
    cols[3].plotly_chart(charts.probability_bars(list(p)), key=f"bars-{key}")
    if true_label is not None and true_label != pred_idx:  # a mistake: what pulled each way
        st.markdown(f"**A mistake**: {CLASSES[true_label]} seen as {CLASSES[pred_idx]}. Maps for both:")
        c = st.columns(2)
        for col, cls in zip(c, (pred_idx, true_label)):
            h, _ = explain.explain(model, meta, crop, method, cls, layer)
            col.image(explain.overlay(crop, h, opacity), caption=f"{method} for {CLASSES[cls]}", width=260)
    st.download_button("Download (PNG)", png_bytes(np.concatenate([rgb, explain.heat_rgb(heat), over], axis=1)),
                       f"{method}_{CLASSES[t]}.png", "image/png", key=f"dl-{key}")


source = st.radio("Image", ["from an evaluation", "upload"], horizontal=True,
                  index=0 if (evals and not q.get("upload")) else 1)
if source == "upload":
    up = st.file_uploader("A photo (faces are found and cut as for prediction)", type=["jpg", "jpeg", "png", "webp", "bmp"])
    if up is None:
        st.info("Upload a photo to see where the model looks.")
        st.stop()
    try:
        results = predictor.predict(load_rgb(up.getvalue()))
    except ImageError as e:
        st.error(f"{up.name}: {e}")
        st.stop()
    if not results:
        st.warning("No face found in this photo.")
        st.stop()
    for k, r in enumerate(results[:4]):
        st.markdown(f"**Face {k + 1}**")
        show_crop(r.crop, key=f"up-{k}")
    st.stop()

if not evals:
    st.info(f"{label} has no evaluation yet: evaluate it on the Evaluate page, or upload a photo.")
    st.stop()
ev = pick_evaluation(version, evals, "explain")
_, pred = read(ev)
eval_dataset = ev.dataset
try:
    dataset = Dataset.open(eval_dataset)
except NotFound:
    st.error(f"The dataset {eval_dataset!r} is not in this store: its images cannot be shown.")
    st.stop()



def image_of_evaluation(image_id: str) -> str:
    """An image by its manifest id (from Errors), resolved and checked by the store."""
    path = dataset.image(image_id)
    if path not in set(pred["path"]):
        raise NotFound(image_id)
    return path


path = params.resolved("image", image_of_evaluation, "image in this evaluation", instead="an image chosen by number")
wanted_true, wanted_pred = (params.wanted(k, CLASSES, "class", instead="every class") for k in ("true", "pred"))
if path is not None:
    row = pred[pred["path"] == path].iloc[0]
    show_crop(prepare_one(eval_dataset, row["path"], size, channels), int(row["label"]))
elif wanted_true or wanted_pred:  # a selection from the Errors page: a grid
    rows = evaluation.mistakes(pred, [wanted_true] if wanted_true else None,
                               [wanted_pred] if wanted_pred else None).head(12)
    st.markdown(f"**{len(rows)}** most confident mistakes of this selection, {method} for the predicted class")
    cols = st.columns(6)
    for k, (_, r) in enumerate(rows.iterrows()):
        crop = prepare_one(eval_dataset, r["path"], size, channels)
        heat, _ = explain.explain(model, meta, crop, method, int(r["prediction"]), layer)
        cols[k % 6].image(explain.overlay(crop, heat, opacity), caption=f"{r['true']} → {r['predicted']}", width=140)
else:
    k = st.number_input("Image number in this evaluation", 0, len(pred) - 1, 0)
    row = pred.iloc[int(k)]
    st.caption(row["path"])
    show_crop(prepare_one(eval_dataset, row["path"], size, channels), int(row["label"]))
