"""The Models view: every named model with its versions (source run, date, figures), the current
one marked, and one action to make any version current again, ``default``'s shipped one included;
the current version of each name exports as ONNX or a model zip, and a model zip imports as a new
version (``fer.ui.model_io``).

Everything it changes goes through ``fer.store`` (``Model.restore``) and everything it shows comes
from ``fer.catalog.rows()``, the rows ``python -m fer model list`` prints. One version's actions
live in ``version_actions`` (a place for more buttons, e.g. an export).
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from fer import catalog
from fer.store import DEFAULT, SHIPPED_VERSION, Model, StoreError, resolve_model
from fer.ui.model_io import export_buttons, import_form
from fer.ui import access

COLUMNS = [1.3, 2.5, 1.6, 0.9, 0.9, 1.3, 2.1]


def _pct(x) -> str:
    return f"{x:.2%}" if x is not None else "—"


def when(iso: str | None) -> str:
    """An ISO time as a short local-free string (``2026-11-30 02:41 UTC``)."""
    t = pd.to_datetime(iso, utc=True, errors="coerce") if iso else None
    return "—" if t is None or pd.isna(t) else t.strftime("%Y-%m-%d %H:%M UTC")


def _restore(name: str, version: str | None) -> None:
    """Button callback: make ``version`` of ``name`` current (None: the previous one)."""
    if not access.can_change():
        return
    try:
        v = Model.open(name).restore(version)
    except StoreError as e:
        st.session_state["models-message"] = ("error", str(e))
        return
    st.session_state["models-message"] = ("success", f"{v.ref} is now the current {name}.")


def version_actions(row: dict, locked: bool) -> None:
    """The buttons of one version: make it current (unless it is), open its figures."""
    if not row["current"]:
        # The row says which version (the shipped one: "shipped with FER Studio"); a label with the
        # full ref, "Make default@shipped-1 current", was cut short in this column
        shipped = row["version"] == SHIPPED_VERSION
        st.button("Make current", key=f"restore-{row['ref']}", on_click=_restore, args=(row["name"], row["version"]),
                  disabled=locked,
                  help=("restores the shipped default: " if shipped else "")
                  + f"{row['ref']} becomes the current {row['name']}; the version in use now stays listed")
    st.page_link("pages/5_Evaluate.py", label="Evaluate", query_params={"model": row["ref"]})


def _version_row(row: dict, locked: bool) -> None:
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
        version_actions(row, locked)


def model_card(name: str, versions: list[dict], locked: bool) -> None:
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
            _version_row(row, locked)
        previous = Model.open(name).previous_id()
        if previous is not None:
            st.button(f"Restore the previous version ({previous})", key=f"restore-previous-{name}",
                      on_click=_restore, args=(name, None), disabled=locked)
        if current is not None:
            with st.expander(f"Export {current['ref']} (ONNX, model zip)"):
                export_buttons(resolve_model(current["ref"], allow_paths=False), key=f"export-{name}")


def models_view() -> None:
    """Every named model (``default`` first), each with its versions and restores."""
    message = st.session_state.pop("models-message", None)
    if message:
        (st.success if message[0] == "success" else st.error)(message[1])
    locked = not access.require_admin("import or restore a model version")  # either changes what a name serves
    with st.expander("Import a model zip"):
        import_form("models-import", locked)  # before the list below, so that an import is listed at once
    rows = catalog.rows()
    if not rows:
        st.info("No model yet: promote a finished run on the Runs tab, or import a model zip above.")
        return
    st.caption("Every promotion adds a version; nothing is replaced or deleted. Leak-free accuracy: on the test "
               "images without a byte-identical or near copy in the training split.")
    for name in dict.fromkeys(r["name"] for r in rows):
        model_card(name, [r for r in rows if r["name"] == name], locked)
