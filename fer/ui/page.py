"""What every page does first: its tab title and layout, the kinds of job registered (a page run
is where the app's program starts: ``fer.startup``), the sign-in panel when the server is shared
beyond localhost, and its title; it returns who this session is (``fer.actions.Actor``), whom
every change the page makes is made by."""
from __future__ import annotations

import streamlit as st

from fer.actions import Actor
from fer.startup import register_job_kinds
from fer.ui import access


def start(title: str, tab: str | None = None, icon: str | None = None) -> Actor:
    st.set_page_config(page_title=tab or f"{title} · FER Studio", page_icon=icon, layout="wide")
    register_job_kinds()
    access.sign_in_panel()
    st.title(title)
    return access.actor()
