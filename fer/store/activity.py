"""The activity log: one JSON line per action on the store, allowed or refused (who, what, on
what, how it ended, and what a destructive or bulk action replaced), appended under the store's
lock so that no record is lost with several writers. Records are never rewritten: the file is
rotated when it passes ``MAX_BYTES`` (``activity.jsonl`` → ``activity.1.jsonl`` …), and the
oldest of ``KEEP`` rotated files is dropped, so the log keeps at least the last
``MAX_BYTES × KEEP`` bytes of records and never more than ``MAX_BYTES × (KEEP + 1)``.

An existing store with no log reads as an empty log.
"""
from __future__ import annotations

import json
from typing import Iterator

from fer.store import io, layout, locks
from fer.store.names import StoreError

MAX_BYTES = 4 * 2**20
KEEP = 4


def _files() -> list:
    """The log's files, newest first: the current one, then the rotated ones."""
    return [layout.activity_log(k) for k in range(KEEP + 1)]


def append(record: dict) -> None:
    """One record as one line (after a torn last line, on a line of its own)."""
    line = json.dumps(record, ensure_ascii=False, default=str)
    current = layout.activity_log()
    with locks.held(layout.activity_lock()):
        if any(p.is_symlink() for p in _files()):
            raise StoreError(f"{current} (or a rotated file beside it) is a link: the activity log is not "
                             "written through links; remove it")
        if current.exists() and current.stat().st_size + len(line) + 1 > MAX_BYTES:
            _rotate()
        io.append_line(current, line)


def _rotate() -> None:
    files = _files()
    files[-1].unlink(missing_ok=True)
    for newer, older in zip(reversed(files[:-1]), reversed(files[1:])):
        if newer.exists():
            io.replace_file(newer, older)


def records() -> Iterator[dict]:
    """Every record, newest first (lines that are not one JSON object are skipped)."""
    for path in _files():
        if path.is_symlink():  # not read through links either
            continue
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            continue
        for line in reversed(raw.splitlines()):
            try:
                record = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(record, dict):
                yield record
