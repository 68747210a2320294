"""The user's keep / exclude decisions: ``datasets/<name>/exclusions.csv``, append-only.

Columns ``path,decision,check,time``. The last row per path wins; undo appends the opposite
decision, so the file is a complete history. The manifest is never touched by a decision.

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

DECISIONS = ("exclude", "keep")
COLUMNS = ["path", "decision", "check", "time"]


def _file(name: str) -> Path:
    return Dataset(store.check_name(name, "dataset name")).exclusions_path


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
    rows = [r for r in csv.reader(lines) if len(r) == 4 and r[1] in DECISIONS]
    return pd.DataFrame(rows, columns=COLUMNS)


def latest(name: str) -> dict[str, str]:
    """path → its latest decision."""
    df = read(name)
    return dict(zip(df["path"], df["decision"]))


def excluded(name: str) -> set[str]:
    return {p for p, d in latest(name).items() if d == "exclude"}


def _append(name: str, paths: list[str], decision: str, check: str) -> int:
    """Append one row per path; the caller holds the lock."""
    if not paths:
        return 0
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for p in paths:
        w.writerow([p, decision, check, now])
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


def record(name: str, paths: Iterable[str], decision: str, check: str = "") -> int:
    """Append one decision per path, under the file lock."""
    paths = _checked(paths, decision)
    if not paths:
        return 0
    with _lock(name):
        return _append(name, paths, decision, check)


def undo(name: str, paths: Iterable[str], check: str = "undo") -> int:
    """Append the opposite of each path's latest decision (paths without one are skipped); the
    latest decisions are read under the same lock, so a concurrent decision is not undone blind."""
    paths = list(paths)
    with _lock(name):
        last = latest(name)
        paths = [p for p in paths if p in last]
        n = _append(name, _checked([p for p in paths if last[p] == "exclude"], "keep"), "keep", check)
        return n + _append(name, _checked([p for p in paths if last[p] == "keep"], "exclude"), "exclude", check)


def usable(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows training may use: not ``q_corrupt`` and not excluded by the user. Flags alone
    exclude nothing."""
    out = df[~df["q_corrupt"]]
    gone = excluded(name)
    return out[~out["path"].isin(gone)] if gone else out
