"""The Models view: every named model with its versions (source run, date, figures), the current
one marked, and one action to make any version current again, ``default``'s shipped one included;
the current version of each name exports as ONNX or a model zip, and a model zip imports as a new
version (``fer.ui.model_io``).

Everything it changes is an action of the session's actor (``fer.actions.models``: restore,
rename, delete, import) and everything it shows comes from ``fer.catalog.rows()``, the rows
``python -m fer model list`` prints. One version's actions live in ``version_actions``.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from fer import actions, catalog
from fer.actions import Actor
from fer.store import DEFAULT, SHIPPED_VERSION, Model, StoreError, resolve_model
from fer.ui.model_io import export_buttons, import_form
from fer.ui import access

COLUMNS = [1.1, 1.9, 1.4, 0.9, 0.9, 1.3, 3.0]  # the last one holds "Make version shipped-1 current" at 1280 px


def _pct(x) -> str:
    return f"{x:.2%}" if x is not None else "—"


def when(iso: str | None) -> str:
    """An ISO time as a short local-free string (``2026-11-30 02:41 UTC``)."""
    t = pd.to_datetime(iso, utc=True, errors="coerce") if iso else None
    return "—" if t is None or pd.isna(t) else t.strftime("%Y-%m-%d %H:%M UTC")


def _restore(actor: Actor, name: str, version: str | None) -> None:
    """Button callback: make ``version`` of ``name`` current (None: the previous one)."""
    try:
        v = actions.models.restore(actor, name, version)
    except (StoreError, actions.Refused) as e:
        st.session_state["models-message"] = ("error", str(e))
        return
    st.session_state["models-message"] = ("success", f"{v.ref} is now the current {name}.")


def version_actions(actor: Actor, row: dict, locked: bool) -> None:
    """The buttons of one version: make it current (unless it is), open its figures."""
    if not row["current"]:
        # The label names the version (the name heads the section); the full ref, "Make
        # default@shipped-1 current", was cut short in this column
        shipped = row["version"] == SHIPPED_VERSION
        st.button(f"Make version {row['version']} current", key=f"restore-{row['ref']}", on_click=_restore,
                  args=(actor, row["name"], row["version"]),
                  disabled=locked,
                  help=("restores the shipped default: " if shipped else "")
                  + f"{row['ref']} becomes the current {row['name']}; the version in use now stays listed")
    st.page_link("pages/5_Evaluate.py", label="Evaluate", query_params={"model": row["ref"]})


def _version_row(actor: Actor, row: dict, locked: bool) -> None:
    c = st.columns(COLUMNS, vertical_alignment="center")
    c[0].markdown(f"**{row['version']}**" + (" :green-badge[current]" if row["current"] else ""))
    c[1].markdown(("shipped with FER Studio" if row["version"] == SHIPPED_VERSION else "shipped before, kept")
                  if row["kind"] == "shipped" else
                  f"run `{row['source_run'] or '—'}`")
    c[2].markdown(when(row["created"]))
    c[3].markdown(_pct(row["test_accuracy"]))
    c[4].markdown(_pct(row["leak_free_accuracy"]))
    c[5].markdown(f"`{row['sha256'][:10]}`", help=row["sha256"])
    with c[6]:
        version_actions(actor, row, locked)


def _rename_and_delete(actor: Actor, name: str, locked: bool) -> None:
    """Rename a model (not default) or delete every stored version of it (default then serves the
    shipped model again); each widget's key and label name the model."""
    c = st.columns(2)
    with c[0]:
        new = st.text_input(f"New name for {name}", value=name, key=f"model-rename-{name}",
                            disabled=locked or name == DEFAULT,
                            help="default keeps its name: promote or restore a version onto it instead")
        if st.button(f"Rename {name}", key=f"model-rename-button-{name}", disabled=locked or name == DEFAULT):
            try:
                actions.models.rename(actor, name, new.strip())
                st.session_state["models-message"] = ("success", f"{name} is now {new.strip()}.")
                st.rerun()
            except (StoreError, OSError, actions.Refused) as e:
                st.error(str(e))
    with c[1]:
        what = "every version stored under default (the shipped model serves again)" if name == DEFAULT else \
            f"{name} and every version of it"
        sure = st.checkbox(f"Yes, delete {what}", key=f"model-delete-sure-{name}", disabled=locked)
        if st.button(f"Delete {name}", key=f"model-delete-{name}", disabled=locked or not sure):
            try:
                actions.models.delete(actor, name)
                st.session_state["models-message"] = ("success", f"Deleted {what}.")
                st.rerun()
            except (StoreError, OSError, actions.Refused) as e:
                st.error(str(e))


def model_card(actor: Actor, name: str, versions: list[dict], locked: bool) -> None:
    """One named model: its versions, newest first, and its one-click restores."""
    current = next((r for r in versions if r["current"]), None)
    with st.container(border=True):
        now = "the shipped model" if current and current["kind"] == "shipped" else \
            f"version {current['version']}" if current else "none"
        st.markdown(f"### {name} · current: {now}")
        if name == DEFAULT:
            st.caption("What Predict, Explain and Live start with.")
        head = st.columns(COLUMNS)
        for col, title in zip(head, ("version", "source", "created", "test acc.", "leak-free acc.", "weights sha256", "")):
            col.caption(title)
        for row in reversed(versions):
            _version_row(actor, row, locked)
        previous = Model.open(name).previous_id()
        if previous is not None:
            st.button(f"Restore the previous version of {name} ({previous})", key=f"restore-previous-{name}",
                      on_click=_restore, args=(actor, name, None), disabled=locked)
        if any(r["kind"] == "version" for r in versions):
            with st.expander(f"Rename or delete {name}"):
                _rename_and_delete(actor, name, locked)
        if current is not None:
            with st.expander(f"Export {current['ref']} (ONNX, model zip)"):
                export_buttons(resolve_model(current["ref"], allow_paths=False), key=f"export-{name}")


def models_view() -> None:
    """Every named model (``default`` first), each with its versions and restores."""
    message = st.session_state.pop("models-message", None)
    if message:
        (st.success if message[0] == "success" else st.error)(message[1])
    actor = access.actor()
    locked = access.locked(actor, "import, restore, rename or delete models")  # each changes what a name serves
    with st.expander("Import a model zip"):
        import_form(actor, "models-import", locked)  # before the list below, so that an import is listed at once
    rows = catalog.rows()
    if not rows:
        st.info("No model yet: promote a finished run on the Runs tab, or import a model zip above.")
        return
    st.caption("Every promotion adds a version; nothing is replaced or deleted. Leak-free accuracy: on the test "
               "images without a byte-identical or near copy in the training split.")
    for name in dict.fromkeys(r["name"] for r in rows):
        model_card(actor, name, [r for r in rows if r["name"] == name], locked)
