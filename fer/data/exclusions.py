"""The user's keep / exclude decisions: ``datasets/<name>/exclusions.csv``, append-only.

Columns ``path,decision,check,time``. The last row per path wins; undo appends the opposite
decision, so the file is a complete history. The manifest is never touched by a decision.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from typing import Iterable

import pandas as pd

from fer import store

DECISIONS = ("exclude", "keep")
COLUMNS = ["path", "decision", "check", "time"]


def _file(name: str):
    return store.dataset_dir(name) / "exclusions.csv"


def read(name: str) -> pd.DataFrame:
    """Every decision ever taken, oldest first."""
    f = _file(name)
    if not f.exists():
        return pd.DataFrame(columns=COLUMNS)
    return pd.read_csv(f, dtype=str, keep_default_na=False)


def latest(name: str) -> dict[str, str]:
    """path → its latest decision."""
    df = read(name)
    return dict(zip(df["path"], df["decision"]))


def excluded(name: str) -> set[str]:
    return {p for p, d in latest(name).items() if d == "exclude"}


def record(name: str, paths: Iterable[str], decision: str, check: str = "") -> int:
    """Append one decision per path (atomically: the whole file is rewritten and replaced)."""
    if decision not in DECISIONS:
        raise ValueError(f"decision {decision!r}: use one of {', '.join(DECISIONS)}")
    paths = list(dict.fromkeys(paths))
    if not paths:
        return 0
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    f = _file(name)
    buf = io.StringIO()
    old = f.read_text("utf-8") if f.exists() else ""
    w = csv.writer(buf, lineterminator="\n")
    if not old:
        w.writerow(COLUMNS)
    for p in paths:
        w.writerow([p, decision, check, now])
    store.write_text(f, old + buf.getvalue())
    return len(paths)


def undo(name: str, paths: Iterable[str], check: str = "undo") -> int:
    """Append the opposite of each path's latest decision (paths without one are skipped)."""
    last = latest(name)
    paths = [p for p in paths if p in last]
    n = record(name, [p for p in paths if last[p] == "exclude"], "keep", check)
    return n + record(name, [p for p in paths if last[p] == "keep"], "exclude", check)


def usable(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows training may use: not ``q_corrupt`` and not excluded by the user. Flags alone
    exclude nothing."""
    out = df[~df["q_corrupt"]]
    gone = excluded(name)
    return out[~out["path"].isin(gone)] if gone else out
