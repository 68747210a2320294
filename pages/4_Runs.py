"""Runs: compare runs (curves and summaries), rename, delete, promote to a named or the default model."""
import streamlit as st

from fer import runs, store
from fer.store import Run, RunError
from fer.ui import params
from fer.ui.charts import training_curves
from fer.ui.study_view import study_view

st.set_page_config(page_title="Runs · FER Studio", layout="wide")
st.title("Runs")

table = runs.table()
if table.empty:
    st.info("No run yet. Start one on the Train page, or from the command line:")
    st.code("python -m fer train --config fer2013_cpu --set dataset=NAME", language="bash")
    st.stop()

st.dataframe(table, hide_index=True, width="stretch",
             column_config={"best_val_f1": st.column_config.NumberColumn(format="%.3f"),
                            "test_accuracy": st.column_config.NumberColumn(format="%.3f"),
                            "test_f1": st.column_config.NumberColumn(format="%.3f")})
study_view()
names = dict(zip(table["id"], table["name"]))
# ?run=ID preselects a run (links from other pages); else the most recent
start = params.wanted("run", list(table["id"]), "run", instead="the latest run")
picked = st.multiselect("Compare runs", list(table["id"]), default=[start or table.iloc[0]["id"]],
                        format_func=lambda r: f"{names[r]} ({r})",
                        help="their train (dashed) and val (solid) curves overlaid, and their figures side by side")
if not picked:
    st.info("Choose one or more runs to compare.")
    st.stop()

curves = {f"{names[r]} ({r})": Run.open(r).epochs() for r in picked}
st.plotly_chart(training_curves(curves), key="compare_curves")

summary = runs.compare(picked)
st.subheader("Summary")
st.dataframe(summary, hide_index=True, width="stretch")
st.download_button("Download the summary (CSV)", summary.to_csv(index=False), "runs_summary.csv", "text/csv")

if len(picked) == 1:
    r = picked[0]
    st.subheader(f"Manage {names[r]}")
    c = st.columns(3)
    with c[0]:
        new_name = st.text_input("Display name", value=names[r], key=f"name-{r}")
        if st.button("Rename", key=f"rename-{r}"):
            try:
                Run.open(r).set_name(new_name)
                st.success("Renamed.")
                st.rerun()
            except RunError as e:
                st.error(str(e))
    with c[1]:
        target = st.text_input("Model name", value="default", key=f"model-{r}",
                               help="'default' makes it the model Predict, Explain and Live start with")
        if st.button("Promote", key=f"promote-{r}"):
            try:
                version = store.promote(r, target)
                st.success(f"Promoted: {version.ref} is now the current {version.name} ({version.folder})")
            except (RunError, ValueError) as e:
                st.error(str(e))
    with c[2]:
        sure = st.checkbox("Yes, delete this run and its weights", key=f"sure-{r}")
        if st.button("Delete", key=f"delete-{r}", disabled=not sure):
            try:
                Run.open(r).delete()
                st.success("Deleted.")
                st.rerun()
            except RunError as e:
                st.error(str(e))
