"""Runs: compare runs (curves and summaries), rename, delete, promote to a named model (seeing what a
promotion replaces); the Models tab lists every version of every name and restores any of them."""
import streamlit as st

from fer import catalog, runs, store
from fer.store import Run, StoreError
from fer.ui import access, page, params
from fer.ui.charts import training_curves
from fer.ui.models_view import models_view, when
from fer.ui.run_panel import follow_jobs, training_lines
from fer.ui.study_view import study_view

page.start("Runs")

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
                 column_config=TABLE_CONFIG)
    return table


def compare(picked: list[str], names: dict) -> None:
    curves = {f"{names[r]} ({r})": Run.open(r).epochs() for r in picked}
    st.plotly_chart(training_curves(curves), key="compare_curves")
    summary = runs.compare(picked)
    st.subheader("Summary")
    st.dataframe(summary, hide_index=True, width="stretch")
    st.download_button("Download the summary (CSV)", summary.to_csv(index=False), "runs_summary.csv", "text/csv")


def rename_and_delete(r: str, name: str, locked: bool) -> None:
    c = st.columns(2)
    with c[0]:
        new_name = st.text_input("Display name of the run", value=name, key=f"name-{r}", disabled=locked)
        if st.button("Rename", key=f"rename-{r}", disabled=locked) and access.can_change():
            try:
                Run.open(r).set_name(new_name)
                st.rerun()
            except StoreError as e:
                st.error(str(e))
    with c[1]:
        sure = st.checkbox("Yes, delete this run and its weights", key=f"sure-{r}", disabled=locked)
        if st.button("Delete", key=f"delete-{r}", disabled=locked or not sure) and sure and access.can_change():
            try:
                Run.open(r).delete()
                st.rerun()
            except StoreError as e:
                st.error(str(e))


def _figures(title: str, d: dict) -> None:
    st.markdown(title)
    st.markdown(f"source run `{d['source_run'] or '—'}` · {d['architecture']} on {d['dataset'] or '—'} · "
                f"created {when(d['created'])}")
    m = st.columns(2)
    m[0].metric("test accuracy", f"{d['test_accuracy']:.2%}" if d["test_accuracy"] is not None else "—")
    m[1].metric("leak-free accuracy", f"{d['leak_free_accuracy']:.2%}" if d["leak_free_accuracy"] is not None
                else "—", help="on the test images without a byte-identical or near copy in the training split")


def _promote(r: str) -> None:
    """Button callback: promote, then start the form afresh (an empty name, no confirmation)."""
    if not access.can_change():
        return
    name = st.session_state[f"model-{r}"].strip()
    try:
        v = store.promote(r, name)
    except (StoreError, OSError) as e:
        st.session_state["promote-message"] = ("error", f"Not promoted: {e}")
        return
    st.session_state["promote-message"] = ("success", f"Promoted: {v.ref} is now the current {v.name}.")
    st.session_state[f"model-{r}"] = ""
    st.session_state.pop(f"replace-{r}", None)


def promote(r: str, locked: bool) -> None:
    """A name for the run; an existing name shows the version it would replace beside this run and
    asks to confirm."""
    st.subheader("Promote to a named model")
    message = st.session_state.pop("promote-message", None)
    if message:
        (st.success if message[0] == "success" else st.error)(message[1])
        if message[0] == "success":
            st.page_link("pages/4_Runs.py", label="See every version on the Models tab →",
                         query_params={"view": "Models"})
    existing = [row["name"] for row in catalog.rows()]
    name = st.text_input("Model name", key=f"model-{r}", placeholder="a new name, or one of: "
                         + ", ".join(dict.fromkeys(existing)), disabled=locked,
                         help="'default' is the model Predict, Explain and Live start with. Promoting adds a "
                              "version of the name; the version it replaces stays and can be restored.").strip()
    if not name:
        st.caption("Type a model name to promote this run.")
        return
    try:
        check = catalog.promotion_check(r, name)
    except StoreError as e:
        st.error(f"Model name: {e}")
        return
    replaced = check["replaced"]
    if replaced is None:
        st.caption(f"{name!r} is a new model: this run becomes {check['new_version']}.")
        st.button(f"Promote to {name}", key=f"promote-{r}", type="primary", disabled=locked, on_click=_promote,
                  args=(r,))
        return
    c = st.columns(2)
    with c[0], st.container(border=True):
        _figures(f"**Now current: {replaced['ref']}** (will be replaced, and kept as an earlier version)", replaced)
    with c[1], st.container(border=True):
        _figures(f"**This run, as {check['new_version']}**", check["incoming"])
    sure = st.checkbox(f"Yes, replace {replaced['ref']} as the current {name}", key=f"replace-{r}", disabled=locked)
    st.button(f"Promote and replace {replaced['ref']}", key=f"promote-{r}", type="primary",
              disabled=locked or not sure, on_click=_promote, args=(r,))


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
    locked = not access.require_admin("rename, promote or delete runs")
    rename_and_delete(r, names[r], locked)
    if Run.open(r).has_weights:
        promote(r, locked)
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
