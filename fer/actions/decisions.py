"""Keep or exclude images of a dataset, one or in bulk, and undo any decision action as one step.

Every row a decision action appends to ``exclusions.csv`` carries the id of its activity record,
so that the action can be undone later, from any session: each image it decided returns to what
it was before (undecided, kept or excluded), unless someone decided that image again since; those
are left as they are, and counted.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

from fer.actions.core import Entry, action
from fer.data import exclusions

STATES = {"exclude": "excluded", "keep": "kept", None: "undecided"}


def _target(dataset: str, paths, decision: str, check: str = "") -> str:
    n = len(set(paths))
    verb = {"exclude": "excluded", "keep": "kept", "clear": "undecided"}.get(decision, decision)
    return f"{dataset}: {n} image{'s' if n != 1 else ''} {verb}" + (f" ({check})" if check else "")


@action("decisions.record", "keep or exclude images", _target)
def decide(entry: Entry, dataset: str, paths: Iterable[str], decision: str, check: str = "") -> dict:
    """``decision`` (exclude, keep, or clear: back to undecided) for every image of ``paths``;
    returns ``{"images": how many were recorded, "record": the activity record's id}``. The record
    says how many were undecided, kept and excluded before, and its id undoes it (``undo``)."""
    paths = list(dict.fromkeys(paths))
    before = exclusions.latest(dataset)
    entry.detail = {"dataset": dataset, "decision": decision, "images": len(paths), "check": check}
    entry.replaced = {"before": dict(Counter(STATES[before.get(p)] for p in paths)),
                      "undo": f"decisions.undo of {entry.id}"}
    return {"images": exclusions.record(dataset, paths, decision, check, action=entry.id), "record": entry.id}


@action("decisions.undo", "undo decisions", lambda dataset, record_id: f"{dataset}: the decisions of {record_id}")
def undo(entry: Entry, dataset: str, record_id: str) -> dict:
    """Undo the decision action ``record_id``: {"restored": n, "changed_since": m}."""
    restored, changed = exclusions.revert(dataset, record_id, action=entry.id)
    entry.detail = {"dataset": dataset, "undone": record_id, "restored": restored, "changed_since": changed}
    if not restored and not changed:
        raise ValueError(f"{record_id} took no decision on dataset {dataset!r}: nothing to undo")
    return {"restored": restored, "changed_since": changed}
