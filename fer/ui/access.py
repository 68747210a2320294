"""Who may change what, when the server listens beyond this machine.

``actor()`` says who a browser session is (``fer.actions.Actor``): on localhost (Streamlit's
``server.address`` is ``localhost``, ``127.0.0.1`` or ``::1``, as ``.streamlit/config.toml``
ships it) the local user, who may change everything: whoever reaches the page already has this
machine. Otherwise (``0.0.0.0``, a LAN address, or no address at all, which Streamlit takes as
every interface) an anonymous visitor, who may look at everything and change nothing (every
action of ``fer.actions`` refuses them: decisions, imports, trainings, sweeps, evaluations,
video analyses, promotions, settings …), until the session signs in and acts as that user. The
rule follows the address the server listens on, never the client's (behind a proxy every client
is 127.0.0.1).

Signing in is Streamlit's own OIDC (``st.login``) when ``[auth]`` is in ``.streamlit/secrets.toml``
(then only the e-mail addresses in ``FER_ADMINS`` / ``[fer] admins`` count, when that list is
set); otherwise a password from ``FER_ADMIN_PASSWORD`` or ``[fer] admin_password`` in the secrets
file. With neither, nothing above can be changed from the browser. ``FER_REQUIRE_SIGN_IN=1`` asks
for sign-in on localhost too (a reverse proxy in front of a localhost server).

Pages draw a change's widgets disabled, with the reason beside them, when the actor may not make
it; the action itself refuses it again, so a forged click on a disabled button changes nothing.
"""
from __future__ import annotations

import hmac
import hashlib
import ipaddress
import os
import threading
import time

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from fer import settings
from fer.actions import Actor

ENV_PASSWORD = settings.ADMIN_PASSWORD_VAR
ENV_ADMINS = "FER_ADMINS"  # comma-separated e-mail addresses that count as admins under OIDC
ENV_REQUIRE = "FER_REQUIRE_SIGN_IN"
SECRETS_SECTION = "fer"  # [fer] admin_password = "...", admins = ["a@example.org"]
SIGNED_IN = "_fer_signed_in"  # session_state: set by code only, never by a widget
FAIL_DELAY_S = 1.0  # a wrong password costs this long, one attempt at a time in this process
_attempts = threading.Lock()


# -- where the server listens ----------------------------------------------------------------------
def is_loopback(address: str | None) -> bool:
    """True for an address only this machine can reach; None or "" (every interface) is not."""
    if not address:
        return False
    name = address.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name: judged as reachable from elsewhere


def bind_address() -> str | None:
    return st.get_option("server.address")


def exposed() -> bool:
    """Whether others may reach this server (or the operator asked to treat it so)."""
    return os.environ.get(ENV_REQUIRE, "").strip() not in ("", "0") or not is_loopback(bind_address())


def _where() -> str:
    address = bind_address()
    return f"this server listens on {address}" if address else "this server listens on every interface"


# -- how one signs in --------------------------------------------------------------------------------
def _secret(*keys: str):
    """A value of the secrets file, or None (no file, no such key)."""
    try:
        value = st.secrets
        for k in keys:
            value = value[k]
        return value
    except (KeyError, FileNotFoundError, AttributeError):  # no secrets file: FileNotFoundError
        return None


def oidc_providers() -> list[str]:
    """Providers of ``[auth]`` in the secrets: "default" for a flat section, else each subsection."""
    auth = _secret("auth")
    if not auth:
        return []
    named = [k for k, v in auth.items() if hasattr(v, "keys")]
    return named or ["default"]


def admin_password() -> str | None:
    return os.environ.get(ENV_PASSWORD) or _secret(SECRETS_SECTION, "admin_password") or None


def admins() -> set[str]:
    listed = os.environ.get(ENV_ADMINS)
    names = listed.split(",") if listed else (_secret(SECRETS_SECTION, "admins") or [])
    return {str(n).strip().lower() for n in names if str(n).strip()}


def method() -> str | None:
    """"oidc", "password", or None when no way to sign in is set up."""
    if oidc_providers():
        return "oidc"
    return "password" if admin_password() else None


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison; a wrong one waits ``FAIL_DELAY_S``, attempts one at a time."""
    with _attempts:
        ok = hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
        if not ok:
            time.sleep(FAIL_DELAY_S)
    return ok


def _oidc_user() -> tuple[bool, str]:
    user = st.user
    return bool(user.get("is_logged_in", False)), str(user.get("email") or "")


def signed_in() -> bool:
    how = method()
    if how == "oidc":
        logged_in, email = _oidc_user()
        allowed = admins()
        return logged_in and (not allowed or email.lower() in allowed)
    if how == "password":
        return st.session_state.get(SIGNED_IN) is True
    return False


# -- what pages call ------------------------------------------------------------------------------------
def _session_tag() -> str:
    """A short tag of this browser session (a visitor's refusals are counted per session)."""
    ctx = get_script_run_ctx()
    return hashlib.sha1((ctx.session_id if ctx else "bare").encode()).hexdigest()[:8]


def actor() -> Actor:
    """Who this browser session is: the local user on localhost; beyond it, the signed-in user by
    name (the OIDC account's e-mail, or ``admin`` for the password), else an anonymous visitor."""
    if not exposed():
        return Actor.local()
    if signed_in():
        return Actor.user(_oidc_user()[1] if method() == "oidc" else "admin")
    return Actor.visitor(_session_tag(), reason("{what}"))


def can_change() -> bool:
    """May this session change the store? Always on localhost."""
    return actor().may_change


def reason(what: str) -> str:
    """One line: why ``what`` is read-only here, and how to change that."""
    how = method()
    if how is None:
        return (f"Read-only: {_where()} and no sign-in is set up. To {what}, set {ENV_PASSWORD} "
                f"(or `[auth]` in .streamlit/secrets.toml) and restart, or run the server on localhost.")
    if how == "oidc":
        logged_in, email = _oidc_user()
        if logged_in:
            return (f"Read-only: {email or 'this account'} is not among the admins ({ENV_ADMINS}), "
                    f"so it may not {what} ({_where()}).")
    return f"Read-only until you sign in (sidebar): {_where()}, and only a signed-in user may {what}."


def locked(actor: Actor, what: str, where=st) -> bool:
    """True when ``actor`` may not ``what``; then the one-line reason is shown (in ``where``)."""
    why = actor.why_not(what)
    if why:
        where.info(why, icon=":material/lock:")
    return bool(why)


def require_admin(what: str) -> bool:
    """True when this session may ``what``; otherwise shows the one-line reason and returns False."""
    if can_change():
        return True
    st.info(reason(what), icon=":material/lock:")
    return False


def sign_in_panel() -> None:
    """The sidebar's sign-in (or sign-out); nothing on localhost. Call once per page."""
    if not exposed():
        return
    bar = st.sidebar
    how = method()
    if how is None:
        bar.caption(f"Read-only: no sign-in is set up ({ENV_PASSWORD} or `[auth]` in the secrets).")
    elif how == "oidc":
        logged_in, email = _oidc_user()
        if logged_in:
            bar.caption(f"Signed in as {email}" + ("" if signed_in() else " (not an admin)"))
            if bar.button("Sign out", key="fer-sign-out"):
                st.logout()
        else:
            for provider in oidc_providers():
                label = "Sign in" if provider == "default" else f"Sign in with {provider}"
                if bar.button(label, key=f"fer-sign-in-{provider}"):
                    st.login(provider)
    elif signed_in():
        bar.caption("Signed in: this session may change the store.")
        if bar.button("Sign out", key="fer-sign-out"):
            st.session_state.pop(SIGNED_IN, None)
            st.rerun()
    else:
        with bar.form("fer-sign-in", clear_on_submit=True):  # the password is not kept in the widget
            given = st.text_input("Admin password", type="password", key="fer-password")
            if st.form_submit_button("Sign in"):
                expected = admin_password()
                if expected and given and password_matches(given, expected):
                    st.session_state[SIGNED_IN] = True
                    st.rerun()
                bar.error("Wrong password.")
