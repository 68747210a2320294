"""Names and ids of the store: what a dataset, run, model, job or study may be called, fresh ids
and times, the errors every record raises, and the rule that an opened folder stays inside the
store once links are followed.

A name is letters, digits, ``.``, ``_``, ``-``, matched whole (so no ``..``, no absolute path, no
line break); an unknown id is ``NotFound`` with one line that says so.
"""
from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from fer.store import layout

# patterns are matched whole (``fullmatch``): ``$`` alone lets a final line break through
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
VERSION_RE = re.compile(r"[0-9]{1,6}")
IMAGE_ID_RE = re.compile(r"[0-9a-f]{16}")


class StoreError(ValueError):
    """Something the store cannot do or find: one line a user can act on."""


class NotFound(StoreError):
    pass


class ModelNotFound(NotFound):
    pass


class RunError(StoreError):
    pass


def check_name(name: str, what: str = "name") -> str:
    """Dataset, run and model names: letters, digits, ``.``, ``_``, ``-``; at most 64."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise StoreError(f"invalid name {name!r}" + (f" ({what})" if what != "name" else "")
                         + ": use letters, digits, '.', '_' or '-' (at most 64, not starting with a dot)")
    return name


def leaves_store(path: Path) -> bool:
    real, root = Path(path).resolve(), layout.root().resolve()
    return real != root and root not in real.parents


def inside(path: Path, what: str) -> Path:
    """``path`` with links followed, refused when that leaves the store."""
    if leaves_store(path):
        raise NotFound(f"{what} leaves the store (a link to {Path(path).resolve()})")
    return Path(path)


_last_id = [""]
_id_lock = threading.Lock()


def new_id() -> str:
    """``YYYYmmdd-HHMMSS-ffff``: the creation time, its last four hex digits the fraction of the
    second (in 1/65536 s), so that ids sort in the order they were made, two runs of the same second
    included ("newest first" is the id order). Unique within a process (never one already given);
    two processes would have to make one in the same 15 µs to meet, and creating its folder then fails."""
    with _id_lock:
        while True:
            t = datetime.now()
            made = t.strftime("%Y%m%d-%H%M%S-") + f"{t.microsecond * 65536 // 1_000_000:04x}"
            if made > _last_id[0]:
                _last_id[0] = made
                return made
            time.sleep(1e-5)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def children(folder: Path) -> list[Path]:
    """Visible sub-folders (hidden ones are being built or deleted); a link out of the store is
    not one of them."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and not leaves_store(p))
