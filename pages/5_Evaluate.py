"""Evaluate: a model's figures on any dataset — honest ones beside the usual ones."""
import pandas as pd
import streamlit as st

from fer import actions, evaluation
from fer.data import names as dataset_names
from fer.labels import CLASSES
from fer.store import EVAL_SPLITS
from fer.ui import charts, page
from fer.ui.evals import leak_free, pick, pick_evaluation, read
from fer.ui.model_picker import choices
from fer.ui.run_panel import follow_jobs

actor = page.start("Evaluate")

picked = pick("evaluate")
if picked is None:
    st.info("No model to evaluate yet: train one on the Train page.")
    st.stop()
version, evals = picked
label, model_x = version.label, version.ref
meta = version.meta()
train_dataset = (meta.get("data") or {}).get("dataset")

with st.expander("Evaluate on a dataset of the store", expanded=not evals):
    datasets = dataset_names()
    if not datasets:
        st.caption("No dataset in the store: import one with `python -m fer dataset import`.")
    else:
        c = st.columns([2, 1, 1, 1])
        ds = c[0].selectbox("Dataset", datasets, key="eval-ds")
        split = c[1].selectbox("Split", list(EVAL_SPLITS), key="eval-split")
        flip = c[2].checkbox("Flip TTA too", key="eval-flip", help="also average each image with its mirror image, "
                             "reported as its own figure")
        why = actor.why_not("evaluate models")
        if c[3].button("Evaluate", type="primary", key=f"evaluate-{model_x}", disabled=bool(why), help=why or None):
            try:
                for tta in (False, True) if flip else (False,):
                    actions.evaluations.evaluate(actor, model_x, ds, split, flip=tta)
                st.success(f"Queued: {label} on {ds}/{split} runs as a job; the evaluation appears below when it "
                           "finishes.")
            except ValueError as e:
                st.error(str(e))
        if why:
            st.caption(why)

        follow_jobs(("evaluate",), "evaluate")  # the page reruns when an evaluation ends

if not evals:
    st.info(f"{label} has no evaluation yet: start one above.")
    st.stop()
ev = pick_evaluation(version, evals, "evaluate")
summary, pred = read(ev)
eval_dataset, split, chosen = ev.dataset, ev.split, ev.id
st.query_params.update({"model": model_x, "eval": chosen})
for stale in ("run", "true", "pred"):  # an older link's, or Errors' when the browser went back
    st.query_params.pop(stale, None)


def errors_link(true_class: str, predicted_class: str) -> dict:
    """Query parameters of the Errors view of one confusion-matrix cell of this evaluation."""
    return {"model": model_x, "eval": chosen, "true": true_class, "pred": predicted_class}


# -- summary ---------------------------------------------------------------------------------
clean = leak_free(ev, train_dataset) if train_dataset else None
ece, reliability = evaluation.calibration(pred)
flip_summary = read(ev, flip=True)[0] if ev.has_flip else None
# two rows of four: seven figures in one row were cut ("57.8…", "leak-free accur…") at 1280 px
m = st.columns(4) + st.columns(4)
m[0].metric("accuracy", f"{summary['accuracy']:.2%}")
m[1].metric("leak-free accuracy", f"{clean['accuracy']:.2%}" if clean and clean["n"] else "—",
            help="on the evaluated images without a byte-identical or near copy in the model's training split"
            + (f" ({clean['excluded']} left out)" if clean else " (its training dataset is not in this store)"))
m[2].metric("macro-F1", f"{summary['macro_f1']:.3f}")
m[3].metric("ECE", f"{ece:.3f}", help="expected calibration error of the top-class confidence (15 bins)")
m[4].metric("images", f"{summary['n']:,}")
m[5].metric("top-3 accuracy", f"{summary['top3_accuracy']:.2%}")
m[6].metric("loss", f"{summary['loss']:.3f}")
made_by = summary.get("model_id") or {}
if made_by.get("sha256") and made_by["sha256"] != version.sha256():
    st.warning(f"This evaluation was made by other weights (sha256 {made_by['sha256'][:12]}) than {label}'s "
               f"({version.sha256()[:12]}): evaluate again for figures of these weights.")
else:
    st.caption(f"Made by {label} (weights sha256 `{version.sha256()[:12]}`) on {eval_dataset}, split {split}.")
if flip_summary:
    st.caption(f"With horizontal-flip test-time augmentation: accuracy {flip_summary['accuracy']:.2%}, "
               f"macro-F1 {flip_summary['macro_f1']:.3f}.")

table = pd.DataFrame([{"metric": k, "value": summary[k]} for k in
                      ("n", "accuracy", "macro_precision", "macro_recall", "macro_f1", "top3_accuracy", "loss")]
                     + ([{"metric": f"leak_free_{k}", "value": clean[k]} for k in ("n", "accuracy", "macro_f1")]
                        if clean and clean["n"] else []) + [{"metric": "ece", "value": ece}])
per_class = pd.DataFrame(summary["per_class"]).T.rename_axis("class").reset_index()
left, right = st.columns(2)
with left:
    st.subheader("Per class")
    st.dataframe(per_class, hide_index=True, width="stretch", placeholder="—")
    st.download_button("Metrics (CSV)", pd.concat([table, per_class.melt(id_vars="class").assign(
        metric=lambda d: d["class"] + "_" + d["variable"])[["metric", "value"]]]).to_csv(index=False),
        f"{eval_dataset}_{split}_metrics.csv", "text/csv")
with right:
    st.subheader("Confusion matrix")
    norm = st.toggle("Row-normalised", value=True)
    cm = pd.DataFrame(summary["confusion_matrix"], index=list(CLASSES), columns=list(CLASSES))
    event = st.plotly_chart(charts.confusion_matrix(cm, norm), key="cm", on_select="rerun", selection_mode="points")
    clicked = charts.cell_of(event.selection)
    if clicked:  # a cell clicked: its images on Errors, in this tab
        st.switch_page("pages/6_Errors.py", query_params=errors_link(*clicked))
    st.caption("Click a cell to see its images on Errors, or choose one here:")
    c = st.columns(3, vertical_alignment="bottom")
    true_c = c[0].selectbox("True class", CLASSES, key="cell-true")
    pred_c = c[1].selectbox("Predicted class", CLASSES, index=1, key="cell-pred")
    with c[2]:
        st.page_link("pages/6_Errors.py", label=f"{int(cm.loc[true_c, pred_c])} image(s) →",
                     query_params=errors_link(true_c, pred_c))

# -- curves ----------------------------------------------------------------------------------
st.subheader("Precision–recall per class")
def evaluation_of(other):
    """The same evaluation (dataset and split) of another model version, or None."""
    return next((e for e in other.evaluations() if e.id == chosen), None)


others = {lab: v for lab, v in choices().items() if v.ref != model_x and evaluation_of(v) is not None}
c = st.columns([1, 3])
cls = c[0].selectbox("Class", CLASSES, index=CLASSES.index("fear"))
overlay = c[1].multiselect("Overlay runs evaluated on the same data", list(others))
curves = {name: evaluation.pr_curves(p).get(cls)
          for name, p in [(label, pred)] + [(o, read(evaluation_of(others[o]))[1]) for o in overlay]}
st.plotly_chart(charts.pr_curves({name: c for name, c in curves.items() if c}), key="pr")
aps = {c: v["ap"] for c, v in evaluation.pr_curves(pred).items()}
st.caption("Average precision: " + ", ".join(f"{c} {v:.3f}" for c, v in aps.items()))

left, right = st.columns(2)
with left:
    st.subheader("Calibration")
    st.plotly_chart(charts.reliability(reliability), key="reliability")
with right:
    st.subheader("By source and split")
    for by in ("source", "split"):
        if pred[by].nunique() > 0:
            st.dataframe(evaluation.breakdown(pred, by), hide_index=True, width="stretch", placeholder="—")

st.subheader("All models, all evaluations")
rows = []
for lab, v in choices().items():
    for e in v.evaluations():
        s = e.summary()
        rows.append({"model": lab, "evaluation": e.label, "accuracy": s.get("accuracy"), "macro_f1": s.get("macro_f1")})
if rows:
    matrix = pd.DataFrame(rows)
    st.dataframe(matrix.pivot_table(index="model", columns="evaluation", values=["accuracy", "macro_f1"]),
                 width="stretch", placeholder="—")
