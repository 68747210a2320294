"""One writer per job folder: the process that writes a run (or any job) holds an exclusive
``flock`` on the folder's writer lock for its whole life, and anyone can ask who holds it.

flock rather than a pid file: the kernel drops the lock when its holder dies, however it dies
(``kill -9`` included), so a lock is never left behind; and a stopped (SIGSTOP) or hung process
still holds it, which is what makes a second writer impossible while it exists. The holder writes
its pid into the file, for messages. It holds across the processes of one machine, and across
machines where the file system implements flock (NFSv4, CephFS; check a Ray cluster's mount).
"""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from fer.store import layout


class FolderBusy(ValueError):
    """Another live process writes this folder: one line naming it."""


def _read_pid(f) -> int:
    try:
        f.seek(0)
        return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def holder(folder: Path) -> int | None:
    """The pid of the process holding ``folder``'s writer lock (0 when it wrote none yet), or None
    when no process holds it."""
    try:
        f = open(Path(folder) / layout.WRITER_LOCK, "r")
    except OSError:  # no lock file: no writer has ever held it
        return None
    with f:
        try:  # a shared lock is granted only while no writer holds the exclusive one
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(f)
        fcntl.flock(f, fcntl.LOCK_UN)
        return None


class WriterLock:
    """``folder``'s writer lock, taken by ``acquire`` and kept until ``release`` or the process ends."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / layout.WRITER_LOCK
        self._file = None

    def acquire(self, what: str, wait: float = 3.0) -> "WriterLock":
        """Take the lock, or raise ``FolderBusy`` naming the live process that has it. ``wait``
        covers a reader's momentary probe (``holder``), never a live writer."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pid = _read_pid(f)
                    f.close()
                    raise FolderBusy(f"{what} is being written by process {pid or '(unknown)'}, which is still "
                                     "there (running, stopped or hung): cancel it or wait for it to end; "
                                     "one process writes a run at a time") from None
                time.sleep(0.05)
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None
