"""Errors: the misclassified images of an evaluation, filtered, sorted, a click from Explain."""
import streamlit as st

from fer import evaluation
from fer.data import DatasetError, info, load_image
from fer.labels import CLASSES
from fer.store import image_id_of
from fer.ui import page, params
from fer.ui.evals import pick, pick_evaluation, read

page.start("Errors")
picked = pick("errors")
if picked is None or not picked[1]:
    st.info("No evaluation yet: train a model (Train page) or evaluate one on the Evaluate page.")
    st.stop()
version, evals = picked
model_x = version.ref
ev = pick_evaluation(version, evals, "errors")
chosen = ev.id
summary, pred = read(ev)
eval_dataset = ev.dataset

c = st.columns([2, 2, 2])
wanted_true, wanted_pred = (params.wanted(k, CLASSES, "class", instead="every class") for k in ("true", "pred"))
true = c[0].multiselect("True class", CLASSES, default=[wanted_true] if wanted_true else [])
predicted = c[1].multiselect("Predicted class", CLASSES, default=[wanted_pred] if wanted_pred else [])
confidence = c[2].slider("Confidence of the prediction", 0.0, 1.0, (0.0, 1.0), 0.05)
c = st.columns([2, 2, 2])
sources = c[0].multiselect("Source", sorted(pred["source"].unique()))
splits = c[1].multiselect("Split", sorted(pred["split"].unique()))
sort = c[2].radio("Sort", ["confidence", "margin"], horizontal=True,
                  format_func=lambda s: "most confident mistakes first" if s == "confidence" else "closest calls first")
# a diagonal cell of the confusion matrix (true = predicted) asks for the correct predictions
correct = len(true) == 1 and true == predicted
rows = evaluation.mistakes(pred, true, predicted, confidence, sources, splits, sort, include_correct=correct)


def view() -> dict:
    """Query parameters of this view (model, evaluation, the single true and predicted class)."""
    return {"model": model_x, "eval": chosen, **({"true": true[0]} if len(true) == 1 else {}),
            **({"pred": predicted[0]} if len(predicted) == 1 else {})}


st.query_params.pop("run", None)
st.query_params.update(view())

per_page = 24
pages = max(1, -(-len(rows) // per_page))
top = st.columns([3, 1])
top[0].markdown(f"**{len(rows):,}** " + (f"correctly classified {true[0]} image(s)" if correct else
                                          "misclassified image(s)") + f" of {len(pred):,}")
page = top[1].number_input("Page", 1, pages, 1, key="errors-page")
shown = rows.iloc[(page - 1) * per_page: page * per_page]
if shown.empty:
    st.info("No mistake matches these filters.")
    st.stop()
st.download_button("These rows (CSV)", rows.drop(columns=[c for c in rows if c.startswith("p_")]).to_csv(index=False),
                   "errors.csv", "text/csv")
st.page_link("pages/7_Explain.py", label="Grad-CAM of the first 12 of them →", query_params=view())

try:
    dinfo = info(eval_dataset)
except DatasetError:
    dinfo = None
    st.warning(f"The dataset {eval_dataset!r} is not in this store: thumbnails cannot be shown.")
cols = st.columns(6)
for k, (_, r) in enumerate(shown.iterrows()):
    with cols[k % 6]:
        if dinfo is not None:
            try:
                img = load_image(dinfo, r["path"])
                img.thumbnail((128, 128))
                st.image(img, width=112)
            except Exception as e:  # a file moved since the import: say so, keep the grid
                st.caption(f"cannot show: {e}")
        st.markdown(f"**{r['true']} → {r['predicted']}** {r['confidence']:.0%}  \n<small>{r['top3']}</small>",
                    unsafe_allow_html=True)
        st.page_link("pages/7_Explain.py", label="Explain",
                     query_params={"model": model_x, "eval": chosen, "image": image_id_of(r["path"])})
