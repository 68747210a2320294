"""The activity log as people read it: newest first, filtered by who, what and on what, with the
names of signed-in users hidden from visitors; and which records can be undone as one step."""
from __future__ import annotations

from itertools import islice

from fer.actions.actor import Actor
from fer.store import activity


def records(viewer: Actor | None = None, limit: int | None = 200, who: str = "", action: str = "",
            target: str = "") -> list[dict]:
    """The latest records (all with ``limit`` None) whose actor, action and target contain the
    given texts (case-insensitive); a visitor sees "a signed-in user" for each signed-in name."""
    who, action, target = who.lower(), action.lower(), target.lower()

    def wanted(r: dict) -> bool:
        a = r.get("actor") or {}
        return (who in f"{a.get('kind', '')} {a.get('name', '')}".lower() and action in str(r.get("action", "")).lower()
                and target in str(r.get("target", "")).lower())

    found = list(islice((r for r in activity.records() if wanted(r)), limit))
    if viewer is not None and not viewer.may_change:
        for r in found:
            if (r.get("actor") or {}).get("kind") == "user":
                r["actor"] = {"kind": "user", "name": "a signed-in user"}
    return found


def undoable(record: dict) -> bool:
    """A decision action that was done can be undone as one step (``decisions.undo``)."""
    return record.get("action") == "decisions.record" and record.get("outcome") == "done" \
        and bool((record.get("detail") or {}).get("dataset"))
