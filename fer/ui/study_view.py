"""The Runs page's studies: pick a sweep's study (``?study=NAME``), see its trials (state,
parameters, value, the epoch a pruned one stopped at, its run), Optuna's figures (optimisation
history, each trial's epochs, parallel coordinates, parameter importances), open the best trial's
run, promote it."""
from __future__ import annotations

import streamlit as st

from fer import actions
from fer.sweeps import studies
from fer.ui import access, charts, params
from fer.ui.promote import promote_form


def _names() -> list[str]:
    try:
        return studies.names()
    except ValueError as e:  # a study_storage that cannot be opened: say so, keep the page
        st.error(f"Sweeps cannot be read: {e}")
        return []


def _figures(study, complete: int) -> None:
    tabs = st.tabs(["optimisation history", "epochs (pruning)", "parallel coordinates", "parameter importances"])
    with tabs[0]:
        st.plotly_chart(charts.study_history(study), key="study-history")
    with tabs[1]:
        st.plotly_chart(charts.study_epochs(study), key="study-epochs")
    with tabs[2]:
        st.plotly_chart(charts.study_parallel(study), key="study-parallel")
    with tabs[3]:
        if complete < 2:
            st.info("Importances need two finished trials or more.")
        else:
            try:
                st.plotly_chart(charts.study_importances(study), key="study-importances")
            except (ValueError, RuntimeError) as e:  # e.g. every trial drew the same values
                st.info(f"No importances: {e}")


def _promote(study: str, best: dict) -> None:
    """Promote best, as Promote on the Runs tab: an empty name, what it would replace, a confirmation."""
    actor = access.actor()
    locked = access.locked(actor, "promote models")
    promote_form(actor, best["run"], f"study-{study}-{best['run']}", locked,
                 title=f"Promote best: trial {best['number']}, run {best['run']}",
                 act=lambda who, name: actions.sweeps.promote_best(who, study, name))


def study_view() -> None:
    """The sweeps section of the Runs page (nothing when no sweep was ever run)."""
    found = _names()
    if not found:
        return
    st.subheader("Sweeps")
    asked = params.wanted("study", found, "study", instead=f"the latest study ({found[0]!r})")
    name = st.selectbox("Study", found, index=found.index(asked) if asked else 0, key="study-pick",
                        help=f"Optuna studies in {studies.shown_url()}")
    study = studies.load(name)
    c = studies.counts(study)
    best = studies.best(study)
    objective = study.user_attrs.get("objective", "objective")
    m = st.columns(5)
    m[0].metric("trials", sum(c.values()))
    m[1].metric("complete", c.get("complete", 0))
    m[2].metric("pruned", c.get("pruned", 0))
    m[3].metric("running / failed", f"{c.get('running', 0)} / {c.get('fail', 0)}")
    m[4].metric(f"best {objective}", f"{best['value']:.3f}" if best else "—")
    table = studies.trials_table(study)
    if table.empty:
        st.info("No trial yet: the study is starting.")
        return
    table["run"] = [f"/Runs?run={r}" if r else None for r in table["run"]]
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"run": st.column_config.LinkColumn("run", display_text=r"run=(.*)"),
                                "value": st.column_config.NumberColumn(format="%.4f")}, placeholder="—")
    if best and best["run"]:
        st.markdown(f"Best: trial {best['number']}, {objective} **{best['value']:.4f}** · "
                    f"[run {best['run']} →](/Runs?run={best['run']})")
        _promote(name, best)
    _figures(study, c.get("complete", 0))
