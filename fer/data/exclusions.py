"""The user's keep / exclude decisions: ``datasets/<name>/exclusions.csv``, append-only.

Columns ``path,decision,check,time,action``: the decision is ``exclude``, ``keep`` or ``clear``
(back to undecided), ``action`` the id of the activity record of the action that took it (empty in
rows written before actions had ids). The last row per path wins; an undo appends what each image
was before (``revert``), so the file is a complete history. The manifest is never touched by a
decision.

Writers append under the store's lock (``exclusions.csv.lock`` beside it), so decisions taken at once
from two browser tabs, sessions or processes are all kept. A writer killed mid-append leaves a
torn last line: readers skip it, and the next append starts on a line of its own.
"""
from __future__ import annotations

import csv
import io
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import pandas as pd

from fer import store
from fer.store import Dataset

DECISIONS = ("exclude", "keep", "clear")  # clear: undecided again
COLUMNS = ["path", "decision", "check", "time", "action"]


def _file(name: str) -> Path:
    path = Dataset(store.check_name(name, "dataset name")).exclusions_path
    if path.is_symlink():  # a decision is never written or read through a link (out of the store, say)
        raise store.StoreError(f"{path} is a link: decisions are not kept through links; remove it")
    return path


def _lock(name: str):
    # a short poll: decisions are single clicks, the lock is held for one append
    return store.locks.held(Dataset(store.check_name(name, "dataset name")).exclusions_lock_path, poll=0.002)


def read(name: str) -> pd.DataFrame:
    """Every decision ever taken, oldest first (a torn line is skipped)."""
    f = _file(name)
    try:
        text = f.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        return pd.DataFrame(columns=COLUMNS)
    # A record is one line (record() refuses line breaks in paths); a line with an odd number of
    # quotes was cut inside a quoted field, and would swallow the lines after it.
    lines = [line for line in text.split("\n") if line and line.count('"') % 2 == 0]
    rows = [r + [""] * (5 - len(r)) for r in csv.reader(lines) if len(r) in (4, 5) and r[1] in DECISIONS]
    return pd.DataFrame(rows, columns=COLUMNS)


def latest(name: str) -> dict[str, str]:
    """path → its latest decision (``exclude`` or ``keep``; an undecided image is not in it)."""
    df = read(name)
    last = dict(zip(df["path"], df["decision"]))  # the last row per path wins
    return {p: d for p, d in last.items() if d != "clear"}


def excluded(name: str) -> set[str]:
    return {p for p, d in latest(name).items() if d == "exclude"}


def _append(name: str, paths: list[str], decision: str, check: str, action: str = "") -> int:
    """Append one row per path; the caller holds the lock."""
    if not paths:
        return 0
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for p in paths:
        w.writerow([p, decision, check, now, action])
    with open(_file(name), "a+b") as f:
        end = f.seek(0, os.SEEK_END)
        if end == 0:
            head = ",".join(COLUMNS) + "\n"
        else:
            f.seek(end - 1)
            head = "" if f.read(1) == b"\n" else "\n"  # after a torn line: start a line of our own
        f.write((head + buf.getvalue()).encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())
    return len(paths)


def _checked(paths: Iterable[str], decision: str) -> list[str]:
    if decision not in DECISIONS:
        raise ValueError(f"decision {decision!r}: use one of {', '.join(DECISIONS)}")
    paths = list(dict.fromkeys(paths))
    for p in paths:
        if "\n" in p or "\r" in p:
            raise ValueError(f"{p!r}: a path with a line break cannot be recorded")
    return paths


def record(name: str, paths: Iterable[str], decision: str, check: str = "", action: str = "") -> int:
    """Append one decision per path, under the file lock; ``action`` names the activity record of
    the action that takes it (what undoes it later)."""
    paths = _checked(paths, decision)
    if not paths:
        return 0
    with _lock(name):
        return _append(name, paths, decision, check, action)


def revert(name: str, action_id: str, action: str = "") -> tuple[int, int]:
    """Undo the decisions of the action ``action_id``: every image it decided whose latest row is
    still that action's returns to what it was before it (undecided, kept or excluded); an image
    decided again since is left as it is. Read and written under one lock. Returns (images
    restored, images changed since)."""
    if not action_id:
        raise ValueError("no action to undo")
    with _lock(name):
        df = read(name).reset_index(drop=True)
        mine = df.index[df["action"] == action_id]
        if not len(mine):
            return 0, 0
        back: dict[str, list[str]] = {}
        changed = 0
        for path, rows in df[df["path"].isin(set(df.loc[mine, "path"]))].groupby("path", sort=False):
            if rows["action"].iloc[-1] != action_id:
                changed += 1
                continue
            before = rows.loc[rows.index < rows.index[rows["action"] == action_id][0], "decision"]
            back.setdefault(before.iloc[-1] if len(before) else "clear", []).append(path)
        for decision, paths in back.items():
            _append(name, paths, decision, "undo", action)
    return sum(map(len, back.values())), changed


def usable(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows training may use: not ``q_corrupt`` and not excluded by the user. Flags alone
    exclude nothing."""
    out = df[~df["q_corrupt"]]
    gone = excluded(name)
    return out[~out["path"].isin(gone)] if gone else out
