"""Promoting a run onto a model name, as the Runs tab and a sweep's Promote best both do it: the
name field starts empty; a name in use shows the version it would replace beside the run (source
run, test and leak-free accuracy) and asks to confirm; the promotion itself is the actor's action
(``fer.actions.models.promote``), which a visitor is refused."""
from __future__ import annotations

from typing import Callable

import streamlit as st

from fer import actions, catalog
from fer.actions import Actor
from fer.store import StoreError
from fer.ui.models_view import when


def _figures(title: str, d: dict) -> None:
    st.markdown(title)
    st.markdown(f"source run `{d['source_run'] or '—'}` · {d['architecture']} on {d['dataset'] or '—'} · "
                f"created {when(d['created'])}")
    m = st.columns(2)
    m[0].metric("test accuracy", f"{d['test_accuracy']:.2%}" if d["test_accuracy"] is not None else "—")
    m[1].metric("leak-free accuracy", f"{d['leak_free_accuracy']:.2%}" if d["leak_free_accuracy"] is not None
                else "—", help="on the test images without a byte-identical or near copy in the training split")


Promote = Callable[[Actor, str], object]  # (actor, model name) → the version made


def _promote(actor: Actor, key: str, act: Promote) -> None:
    """Button callback: promote, then start the form afresh (an empty name, no confirmation)."""
    name = st.session_state[f"model-{key}"].strip()
    try:
        v = act(actor, name)
    except (StoreError, OSError, actions.Refused) as e:
        st.session_state[f"promote-message-{key}"] = ("error", f"Not promoted: {e}")
        return
    st.session_state[f"promote-message-{key}"] = ("success", f"Promoted: {v.ref} is now the current {v.name}.")
    st.session_state[f"model-{key}"] = ""
    st.session_state.pop(f"replace-{key}", None)


def promote_form(actor: Actor, run_id: str, key: str, locked: bool, title: str = "Promote to a named model",
                 act: Promote | None = None) -> None:
    """A name for ``run_id``; an existing name shows the version it would replace beside this run
    and asks to confirm. ``key`` names the form's widgets (it contains the run's id); ``act`` is
    the action that promotes (default: ``fer.actions.models.promote`` of this run)."""
    act = act or (lambda who, name: actions.models.promote(who, run_id, name))
    st.subheader(title)
    message = st.session_state.pop(f"promote-message-{key}", None)
    if message:
        (st.success if message[0] == "success" else st.error)(message[1])
        if message[0] == "success":
            st.page_link("pages/4_Runs.py", label="See every version on the Models tab →",
                         query_params={"view": "Models"})
    existing = [row["name"] for row in catalog.rows()]
    name = st.text_input(f"Model name for run {run_id}", key=f"model-{key}", placeholder="a new name, or one of: "
                         + ", ".join(dict.fromkeys(existing)), disabled=locked,
                         help="'default' is the model Predict, Explain and Live start with. Promoting adds a "
                              "version of the name; the version it replaces stays and can be restored.").strip()
    if not name:
        st.caption(f"Type a model name to promote run {run_id}.")
        return
    try:
        check = catalog.promotion_check(run_id, name)
    except StoreError as e:
        st.error(f"Model name: {e}")
        return
    replaced = check["replaced"]
    if replaced is None:
        st.caption(f"{name!r} is a new model: run {run_id} becomes {check['new_version']}.")
        st.button(f"Promote run {run_id} to {name}", key=f"promote-{key}", type="primary", disabled=locked,
                  on_click=_promote, args=(actor, key, act))
        return
    c = st.columns(2)
    with c[0], st.container(border=True):
        _figures(f"**Now current: {replaced['ref']}** (will be replaced, and kept as an earlier version)", replaced)
    with c[1], st.container(border=True):
        _figures(f"**Run {run_id}, as {check['new_version']}**", check["incoming"])
    sure = st.checkbox(f"Yes, replace {replaced['ref']} as the current {name}", key=f"replace-{key}", disabled=locked)
    st.button(f"Promote run {run_id} and replace {replaced['ref']}", key=f"promote-{key}", type="primary",
              disabled=locked or not sure, on_click=_promote, args=(actor, key, act))
