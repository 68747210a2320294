"""Who acts: every change to the store is made by an ``Actor``, and the one rule of who may change
what lives here.

- ``local``: the user of a server that listens on localhost (whoever reaches it has the machine);
- ``user``: someone signed in to a server shared beyond localhost (password or OIDC), by name;
- ``visitor``: anyone else who reaches a shared server: they may look at everything and change
  nothing;
- ``cli``: the operating-system user running ``python -m fer``.

Which one a browser session is follows the address the server listens on, never the client's
(behind a proxy every client is 127.0.0.1): ``fer.ui.access.actor()`` decides it.
"""
from __future__ import annotations

import getpass
from dataclasses import dataclass

KINDS = ("local", "user", "visitor", "cli")


class Refused(ValueError):
    """An action this actor may not take: one line that says what to do (sign in, or run the
    server on localhost)."""


@dataclass(frozen=True)
class Actor:
    kind: str  # local | user | visitor | cli
    name: str  # who, as the activity log shows it
    # a visitor's refusal, with {what} for the change asked for: "Read-only until you sign in …"
    refusal: str = ""

    @property
    def may_change(self) -> bool:
        return self.kind != "visitor"

    def why_not(self, what: str) -> str:
        """The one line a refusal says (empty for an actor who may change the store)."""
        if self.may_change:
            return ""
        return self.refusal.format(what=what) if self.refusal else f"Read-only: only a signed-in user may {what}."

    def shown(self, to: "Actor | None" = None) -> dict:
        """This actor as a record shows it; to a visitor, a signed-in user's name is hidden."""
        hidden = to is not None and not to.may_change and self.kind == "user"
        return {"kind": self.kind, "name": "a signed-in user" if hidden else self.name}

    @classmethod
    def local(cls) -> "Actor":
        return cls("local", f"local user ({_os_user()})")

    @classmethod
    def cli(cls) -> "Actor":
        return cls("cli", _os_user())

    @classmethod
    def user(cls, name: str) -> "Actor":
        return cls("user", name or "signed-in user")

    @classmethod
    def visitor(cls, session: str, refusal: str) -> "Actor":
        return cls("visitor", f"visitor {session}", refusal)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return "unknown"
