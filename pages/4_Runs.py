"""Runs: compare runs (curves and summaries), rename, delete, promote to a named model (seeing what a
promotion replaces); the Models tab lists every version of every name and restores any of them."""
import streamlit as st

from fer import actions, runs
from fer.store import Run, StoreError
from fer.ui import access, page, params
from fer.ui.charts import training_curves
from fer.ui.models_view import models_view
from fer.ui.promote import promote_form
from fer.ui.run_panel import follow_jobs, training_lines
from fer.ui.study_view import study_view

actor = page.start("Runs")

follow_jobs(("train",), "runs", show=training_lines)  # the tables below rerun when a training ends

TABLE_CONFIG = {
    "name": st.column_config.TextColumn(width="medium", pinned=True),
    "test_accuracy": st.column_config.NumberColumn("test acc.", format="%.4f", width="small"),
    "test_f1": st.column_config.NumberColumn("test F1", format="%.3f", width="small"),
    "best_val_f1": st.column_config.NumberColumn("best val F1", format="%.3f", width="small"),
    "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
    "id": st.column_config.TextColumn(width="medium"),
}


def runs_table():
    """Every run, key columns first; the table scrolls sideways within the page."""
    table = runs.table()
    if table.empty:
        st.info("No run yet. Start one on the Train page, or from the command line:")
        st.code("python -m fer train --config quick --set dataset=NAME", language="bash")
        return None
    st.dataframe(table, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 320),
                 column_config=TABLE_CONFIG, placeholder="—")
    return table


def compare(picked: list[str], names: dict) -> None:
    curves = {f"{names[r]} ({r})": Run.open(r).epochs() for r in picked}
    st.plotly_chart(training_curves(curves), key="compare_curves")
    summary = runs.compare(picked)
    st.subheader("Summary")
    st.dataframe(summary, hide_index=True, width="stretch", placeholder="—")
    st.download_button("Download the summary (CSV)", summary.to_csv(index=False), "runs_summary.csv", "text/csv")


def rename_and_delete(r: str, name: str, locked: bool) -> None:
    c = st.columns(2)
    with c[0]:
        new_name = st.text_input(f"Display name of run {r}", value=name, key=f"name-{r}", disabled=locked)
        if st.button(f"Rename run {r}", key=f"rename-{r}", disabled=locked):
            try:
                actions.runs.rename(actor, r, new_name)
                st.rerun()
            except (StoreError, actions.Refused) as e:
                st.error(str(e))
    with c[1]:
        sure = st.checkbox(f"Yes, delete run {name} ({r}) and its weights", key=f"sure-{r}", disabled=locked)
        if st.button(f"Delete run {r}", key=f"delete-{r}", disabled=locked or not sure) and sure:
            try:
                actions.runs.delete(actor, r)
                st.rerun()
            except (StoreError, actions.Refused) as e:
                st.error(str(e))


def runs_view() -> None:
    table = runs_table()
    if table is None:
        return
    study_view()  # nothing when no sweep was ever run
    names = dict(zip(table["id"], table["name"]))
    # ?run=ID preselects a run (links from other pages); else the most recent
    start = params.wanted("run", list(table["id"]), "run", instead="the latest run")
    picked = st.multiselect("Compare runs", list(table["id"]), default=[start or table.iloc[0]["id"]],
                            format_func=lambda r: f"{names[r]} ({r})",
                            help="their train (dashed) and val (solid) curves overlaid, and their figures side by side")
    if not picked:
        st.info("Choose one or more runs to compare.")
        return
    compare(picked, names)
    if len(picked) != 1:
        st.caption("Choose one run to rename, delete or promote it.")
        return
    r = picked[0]
    st.subheader(f"Manage {names[r]}")
    locked = access.locked(actor, "rename, promote or delete runs")
    rename_and_delete(r, names[r], locked)
    if Run.open(r).has_weights:
        promote_form(actor, r, r, locked)
    else:
        st.caption("This run has no weights yet: it can be promoted once it has finished an epoch.")


VIEWS = ["Runs", "Models"]
params.wanted("view", VIEWS, "view", instead="'Runs'")  # a tab the link names; the tabs drop any other
runs_tab, models_tab = st.tabs(VIEWS, key="view", bind="query-params")
with runs_tab:
    if runs_tab.open:
        runs_view()
with models_tab:
    if models_tab.open:
        models_view()
