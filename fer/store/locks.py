"""Every lock of the store, through one helper (``filelock``, a flock on Linux): short critical
sections (``held``: the job queue, model versions, a dataset's decisions, the activity log) and
the one writer of a job folder (``WriterLock``, held for the writer's whole life).

A flock rather than a pid file: the kernel drops it when its holder dies, however it dies
(``kill -9`` included), so a lock is never left behind; a stopped (SIGSTOP) or hung process still
holds it, which is what makes a second writer impossible while it exists. The writer puts its pid
into the lock file, for messages: who holds a folder is asked (``holder``), never guessed. It
holds across the processes of one machine, and across machines where the file system implements
flock (NFSv4, CephFS; check a Ray cluster's mount).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from fer.store import layout


class FolderBusy(ValueError):
    """Another live process writes this folder: one line naming it."""


@contextmanager
def held(path: Path, poll: float = 0.01) -> Iterator[None]:
    """The lock file ``path``, exclusively, for the block (waiting for whoever has it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path, poll_interval=poll):
        yield


def _read_pid(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def holder(folder: Path) -> int | None:
    """The pid of the process holding ``folder``'s writer lock (0 when it wrote none yet), or None
    when no process holds it."""
    path = Path(folder) / layout.WRITER_LOCK
    if not path.exists():  # no writer has ever held it (and a probe must not create it)
        return None
    probe = FileLock(path, timeout=0)
    try:
        probe.acquire()
    except Timeout:
        return _read_pid(path)
    probe.release()
    return None


class WriterLock:
    """``folder``'s writer lock, taken by ``acquire`` and kept until ``release`` or the process ends."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / layout.WRITER_LOCK
        self._lock: FileLock | None = None

    def acquire(self, what: str, wait: float = 3.0) -> "WriterLock":
        """Take the lock, or raise ``FolderBusy`` naming the live process that has it. ``wait``
        covers a reader's momentary probe (``holder``), never a live writer."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.path, timeout=wait, poll_interval=0.05)
        try:
            lock.acquire()
        except Timeout:
            pid = _read_pid(self.path)
            raise FolderBusy(f"{what} is being written by process {pid or '(unknown)'}, which is still there "
                             "(running, stopped or hung): cancel it or wait for it to end; one process writes a "
                             "run at a time") from None
        self.path.write_text(str(os.getpid()))
        self._lock = lock
        return self

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
