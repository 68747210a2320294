"""Query parameters (``?dataset=``, ``?run=``, ``?eval=``, ...) read by the pages.

A parameter only ever selects among what the store lists (names, ids, classes, image paths of
an evaluation); it is never joined into a path. A value that names nothing there (a typo, an
old bookmark, ``..``, an absolute path) is ignored with a warning that says what was asked and
what is shown instead.
"""
from __future__ import annotations

from typing import Sequence

import streamlit as st

SHOWN = 60  # characters of a rejected value repeated back to the user


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
    st.warning(f"?{param}={shown(value)}: no {what} of that name here"
               + (f"; showing {instead} instead." if instead else "; ignored."))
    return None


def index(param: str, options: Sequence[str], what: str) -> int:
    """The index of ``?param=`` among ``options`` for a select box (0 when absent or unknown)."""
    value = wanted(param, options, what, instead=repr(options[0]) if options else None)
    return list(options).index(value) if value is not None else 0
