"""An action: one change to the store, taken by an actor, allowed or refused in one place, and
recorded in the activity log (``fer.store.activity``) either way.

``@action(name, verb, target)`` turns a body ``body(entry, *args)`` into ``run(actor, *args)``:
a visitor is refused before the body runs (``Refused``, with the line that says what to do);
otherwise the body runs and the record says how it ended (``done`` or ``failed`` with the
error). The body fills its ``Entry``: the target as a person recognises it, details (counts, the
version made), and for a destructive or bulk change what it replaced, so that it can be undone.
A long body (a training in the foreground) writes its record once it has started
(``entry.commit()``) rather than when it ends.

Refusals are capped, so that nobody can fill the disk by clicking: one record per visitor and
action a minute, and ``REFUSALS_PER_MINUTE`` in all; a capped refusal is still refused.
"""
from __future__ import annotations

import functools
import secrets
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from fer.actions.actor import Actor, Refused
from fer.store import activity
from fer.store.io import store_write_error

REFUSALS_PER_MINUTE = 60
_refusals: dict[tuple[str, str], float] = {}
_recent: deque[float] = deque()
_refusal_lock = threading.Lock()


@dataclass(frozen=True)
class Action:
    name: str  # "model.promote"
    verb: str  # what a refusal says this actor may not do: "promote models"
    run: Callable


ACTIONS: dict[str, Action] = {}


def new_record_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(4)


@dataclass
class Entry:
    """What an action's record says, filled by its body as it goes."""
    id: str
    actor: Actor
    action: str
    target: str
    detail: dict = field(default_factory=dict)
    replaced: dict | None = None
    written: bool = False

    def record(self, outcome: str, error: str | None = None) -> dict:
        out = {"id": self.id, "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
               "actor": self.actor.shown(), "action": self.action, "target": self.target, "outcome": outcome}
        if self.detail:
            out["detail"] = self.detail
        if self.replaced is not None:
            out["replaced"] = self.replaced
        if error:
            out["error"] = error
        return out

    def commit(self, outcome: str = "done", error: str | None = None) -> None:
        """Write the record now (once). A store that cannot take it (read-only, full) does not turn
        the action's own outcome into another error: a change that was made says so on stderr (a
        refused or failed one already says what is wrong)."""
        if not self.written:
            self.written = True
            try:
                activity.append(self.record(outcome, error))
            except OSError as e:
                if outcome == "done":
                    print(f"warning: the activity log could not record {self.action}: {store_write_error(e) or e}",
                          file=sys.stderr)


def action(name: str, verb: str, target: Callable[..., str]):
    """Register ``body`` as the action ``name``; ``target(*args, **kwargs)`` names what it acts on."""
    def wrap(body):
        @functools.wraps(body)
        def run(actor: Actor, *args, **kwargs):
            entry = Entry(new_record_id(), actor, name, target(*args, **kwargs))
            if not actor.may_change:
                _refuse(entry)
                raise Refused(actor.why_not(verb))
            try:
                result = body(entry, *args, **kwargs)
            except BaseException as e:
                entry.commit("failed", str(e) or type(e).__name__)
                raise
            entry.commit()
            return result

        run.action = name
        ACTIONS[name] = Action(name, verb, run)
        return run
    return wrap


def _refuse(entry: Entry) -> None:
    """Record a refusal unless this visitor was refused this action within the minute, or the
    refusals of the last minute reached the cap."""
    now = time.monotonic()
    key = (entry.actor.name, entry.action)
    with _refusal_lock:
        while _recent and now - _recent[0] > 60:
            _recent.popleft()
        if now - _refusals.get(key, -1e9) < 60 or len(_recent) >= REFUSALS_PER_MINUTE:
            return
        _refusals[key] = now
        _recent.append(now)
    entry.commit("refused")
