"""Writing to the store so that a reader never sees half of anything.

A file is written to a temporary file in its own folder and moved into place with
``os.replace``. A folder is built beside its target and swapped in with ``replace_folder``
(an atomic exchange where the kernel offers one), and removed with ``remove_folder`` (renamed
out of every listing first, then deleted): the one pair of helpers every "write a folder, then
swap it in" goes through.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import shutil
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

from fer.store import layout

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; the store's files are ordinary files
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if e.filename is None:  # a failed write names no file: name the one being written
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_parquet(path: Path, df) -> Path:
    return atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def _depth(value) -> int:
    """How deep a parsed JSON value nests (without recursion)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        node, d = todo.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, d)
            todo += [(v, d + 1) for v in (node.values() if isinstance(node, dict) else node)]
    return deepest


def loads_bounded(data: bytes, max_bytes: int, max_depth: int, what: str) -> Any:
    """JSON from a file anyone may have written, bounded before it is parsed and used: at most
    ``max_bytes`` and ``max_depth`` levels of nesting (a file nested 100,000 deep would exhaust
    the parser's recursion); ``ValueError`` naming ``what`` otherwise."""
    if len(data) > max_bytes:
        raise ValueError(f"{what} is {len(data) / 2**20:.1f} MiB, over the {max_bytes / 2**20:g} MiB it may take")
    try:
        value = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise ValueError(f"{what} nests deeper than {max_depth} levels") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{what} is not valid JSON ({type(e).__name__}: {e})") from None
    if _depth(value) > max_depth:
        raise ValueError(f"{what} nests deeper than {max_depth} levels")
    return value


def read_json(path: Path, default: Any = None) -> Any:
    """A JSON file, or ``default`` when it is missing or torn."""
    try:
        return json.loads(Path(path).read_text("utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return default


def append_line(path: Path, text: str) -> None:
    """One line appended (JSON lines: a reader skips a torn last line). After a torn last line (a
    writer killed mid-line) the new one starts on a line of its own, so it is not lost too."""
    try:
        with open(path, "a+b") as fh:  # appends go to the end wherever the reads were
            torn = False
            if fh.seek(0, os.SEEK_END):
                fh.seek(-1, os.SEEK_END)
                torn = fh.read(1) != b"\n"
            fh.write((b"\n" if torn else b"") + text.encode("utf-8") + b"\n")
    except OSError as e:
        if e.filename is None:
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise


def new_folder_beside(target: Path, purpose: str = "new") -> Path:
    """A fresh hidden folder beside ``target`` (hidden folders are in no listing) to build into."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.{purpose}-", dir=target.parent))


@lru_cache(maxsize=1)
def _renameat2():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):
        return None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def replace_folder(new: Path, target: Path, carry: Iterable[str] = ()) -> Path:
    """Put the finished folder ``new`` at ``target``. Entries named in ``carry`` that the old
    target has and ``new`` lacks (the user's files) move into ``new`` first; the old folder is
    removed only after the new one is in place."""
    new, target = Path(new), Path(target)
    if not target.exists():
        new.rename(target)
        return target
    for name in carry:
        if (target / name).exists() and not (new / name).exists():
            (target / name).rename(new / name)
    if _exchange(new, target):  # now `new` holds the old folder
        remove_folder(new)
        return target
    old = target.with_name(f".{target.name}.old-{time.time_ns()}")
    target.rename(old)
    new.rename(target)
    remove_folder(old)
    return target


def remove_folder(target: Path) -> None:
    """Out of every listing at once (a hidden name), then deleted."""
    target = Path(target)
    if not target.exists():
        return
    trash = target.with_name(f".{target.name.lstrip('.')}.deleting-{time.time_ns()}")
    target.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)


def move_folder(source: Path, target: Path) -> Path:
    """Rename a folder; refused when ``target`` exists (nothing is overwritten)."""
    if Path(target).exists():
        raise FileExistsError(f"{target} exists already")
    Path(source).rename(target)
    return Path(target)


def replace_file(tmp: Path, target: Path) -> Path:
    """Move a file written beside ``target`` into place (for writers that need their own name)."""
    os.replace(tmp, target)
    return Path(target)


def file_version(*paths: Path) -> tuple:
    """What a cached reader keys on: (size, mtime in ns) of each file, None for a missing one."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


def disk_usage(path: Path) -> int:
    """Bytes under ``path`` (files only, links not followed)."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


_WRITE_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
                 errno.EFBIG: "a file may not grow that large here", errno.EROFS: "the file system is read-only",
                 errno.EACCES: "permission denied", errno.EPERM: "operation not permitted"}


def store_write_error(e: BaseException) -> str | None:
    """One line for a write the store refused (full, read-only, not permitted), naming the file
    and what to do; None for any other error, or one outside the store."""
    why = _WRITE_ERRORS.get(getattr(e, "errno", None))
    where = getattr(e, "filename", None)
    root = layout.root()
    if why is None or where is None:
        return None
    where = Path(where).resolve()
    if not (where == root or root in where.parents):
        return None
    return (f"cannot write to the store ({why}: {where}); free some space or make {root} writable, then try "
            "again (a run resumes from its last checkpoint)")
