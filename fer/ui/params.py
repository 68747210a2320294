"""Query parameters (``?dataset=``, ``?run=``, ``?model=``, ``?eval=``, ``?image=``, ...) read by
the pages.

A parameter only ever selects among what the store lists (names, classes), or is an id the store
resolves and checks (``resolved``: a model, an evaluation, an image); it is never joined into a
path. A value that names nothing there (a typo, an old bookmark, ``..``, an absolute path, a link
out of the store) is ignored with a warning that says what was asked and what is shown instead.
"""
from __future__ import annotations

from typing import Callable, Sequence, TypeVar

import streamlit as st

SHOWN = 60  # characters of a rejected value repeated back to the user
T = TypeVar("T")


def shown(value: str) -> str:
    """A value as it is safe and short to repeat: control characters escaped, long ones cut, and
    set as code so that no markdown in it (a link, an image) is rendered."""
    text = repr(value)[1:-1].replace("`", "'")
    text = text if len(text) <= SHOWN else text[:SHOWN] + f"… ({len(value):,} characters)"
    return f"`{text}`"


def wanted(param: str, options: Sequence[str], what: str, instead: str | None = None) -> str | None:
    """The option ``?param=`` names, or None when it is absent or names nothing; then a warning
    says so (``what``: what the options are; ``instead``: what the page shows in its place)."""
    value = st.query_params.get(param)
    if not value:
        return None
    if value in options:
        return value
    refuse(param, value, what, instead)
    return None


def index(param: str, options: Sequence[str], what: str) -> int:
    """The index of ``?param=`` among ``options`` for a select box (0 when absent or unknown)."""
    value = wanted(param, options, what, instead=repr(options[0]) if options else None)
    return list(options).index(value) if value is not None else 0


def choose(widget: Callable, label: str, options: Sequence[str], param: str, what: str, key: str, **kwargs):
    """A select box or radio (``widget``, e.g. ``st.sidebar.radio``) tied to ``?param=`` both ways.

    The widget keeps one key whatever the query string says. (An unkeyed widget whose ``index``
    comes from the query string changes identity whenever the page writes its choice back, and
    Streamlit then drops the click that arrives for the old identity: every second change was
    lost.) The query string picks the option only when it changed from outside the widget (first
    load, a link, the address bar); the widget's choice is written back to it."""
    options = list(options)
    value = st.query_params.get(param)
    written = f"_written:{key}"
    if key not in st.session_state or (value and value != st.session_state.get(written)):
        chosen = wanted(param, options, what, instead=repr(options[0]) if options else None)
        if chosen is not None:
            st.session_state[key] = chosen
    if key in st.session_state and st.session_state[key] not in options:  # e.g. a dataset deleted meanwhile
        # set, not deleted: the browser keeps showing a value the server dropped (the deleted
        # dataset stayed in the sidebar while the page acted on another) until told a new one
        if options:
            st.session_state[key] = options[0]
        else:
            del st.session_state[key]
    choice = widget(label, options, key=key, **kwargs)
    if choice is not None:
        st.query_params[param] = choice
    st.session_state[written] = choice
    return choice


def refuse(param: str, value: str, what: str, instead: str | None = None) -> None:
    """The warning for ``?param=value`` that names nothing (the value shown once, as code)."""
    st.warning(f"?{param}={shown(value)}: no {what} of that name here"
               + (f"; showing {instead} instead." if instead else "; ignored."))


def resolved(param: str, resolve: Callable[[str], T], what: str, instead: str | None = None) -> T | None:
    """What the store makes of ``?param=`` (``resolve`` checks it: names only, nothing outside the
    store, no unknown id), or None when it is absent or refused; then a warning says so."""
    value = st.query_params.get(param)
    if not value:
        return None
    try:
        return resolve(value)
    except ValueError:  # the store's NotFound and StoreError are ValueErrors
        refuse(param, value, what, instead)
        return None
