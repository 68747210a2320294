"""Inside a job's process: the harness every job runs in, written once.

``with job_harness(folder) as job:`` takes the folder's writer lock (refused, writing nothing,
while another live process holds it), marks the job running (pid, a heartbeat every few seconds),
turns SIGTERM into a stop request, and on the way out writes the final state (finished, failed
with the error, or cancelled), prints one closing line on stderr, lets the lock go and starts the
next queued job. Trainings, evaluations, imports and alignments all run in it.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from fer.jobs.queue import schedule
from fer.store import HOST, Job, io, now
from fer.store.jobs import process_facts
from fer.store.locks import WriterLock

HEARTBEAT_SECONDS = 5


class JobCancelled(Exception):
    """Raised in a job that cannot stop by itself when SIGTERM arrives (``cooperative=False``)."""


class Heartbeat:
    """State running and a fresh heartbeat every few seconds; the final state, once."""

    def __init__(self, folder: Path):
        self.job = Job(Path(folder))
        self._stop = threading.Event()
        self._lock = threading.Lock()  # status.json is read-modify-written by two threads
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _write(self, **fields) -> None:
        with self._lock:
            self.job.write_status(**fields)

    def _beat(self) -> None:
        asked = False
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:  # the pid too: this process, not whichever one was launched, is the job
                self._write(heartbeat=time.time(), pid=os.getpid(), **(process_facts(os.getpid()) or {}))
            except OSError:  # a full or read-only store: the job itself meets it and says so
                pass
            if not asked and self.job.stop_requested:  # a cancel from another machine: as if SIGTERM came
                asked = True
                os.kill(os.getpid(), signal.SIGTERM)

    def start(self) -> "Heartbeat":
        self._write(state="running", pid=os.getpid(), **(process_facts(os.getpid()) or {}), host=HOST,
                    heartbeat=time.time(), started=self.job.raw_status().get("started") or now())
        self._thread.start()
        return self

    def progress(self, **fields) -> None:
        self._write(heartbeat=time.time(), **fields)

    def stop(self) -> None:
        """No more beats (nor stop requests turned into SIGTERM) once this returns."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=HEARTBEAT_SECONDS * 2)

    def finish(self, state: str, **fields) -> None:
        self.stop()  # no beat may land after the final state
        self._write(state=state, ended=now(), heartbeat=time.time(), **fields)


class JobHandle:
    """What a job's code sees: progress reports, the stop request, and how it ended."""

    def __init__(self, folder: Path, enabled: bool):
        self.folder, self.enabled = Path(folder), enabled
        self.stop_requested = False
        self.state: str | None = None  # set by the job when it ends otherwise than "finished"
        self.fields: dict = {}  # extra fields of the final status (epoch, output, ...)
        self.closing: str | None = None  # the closing stderr line, when the job has its own
        self._beat = Heartbeat(folder) if enabled else None
        self._lock = WriterLock(folder) if enabled else None
        self._interruptible = False

    def should_stop(self) -> bool:
        return self.stop_requested

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """Inside, SIGTERM interrupts the body at once (``JobCancelled``) instead of waiting to be
        polled: for a long stretch that cannot poll (a final evaluation)."""
        if self.stop_requested:
            raise JobCancelled("cancelled")
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False

    def stoppable(self, work):
        """``work`` run so that SIGTERM interrupts it at once: (True, its result), or (False, None)
        when it was stopped (the trainer's protocol, ``fer.training.control.Control``)."""
        try:
            with self.interruptible():
                return True, work()
        except JobCancelled:
            return False, None

    def progress(self, **fields) -> None:
        if self._beat:
            self._beat.progress(**fields)

    def stage(self, stage: str, done: int, total: int) -> None:
        """A ``(stage, done, total)`` progress callback, as the data functions take."""
        self.progress(stage=stage, progress=done / max(total, 1))

    def end(self, state: str, **fields) -> None:
        """Say how the job ended (default: finished, or cancelled after a stop request)."""
        self.state = state
        self.fields.update(fields)


def _error_text(e: BaseException) -> str:
    if io.store_write_error(e):
        return io.store_write_error(e)
    if isinstance(e, (ValueError, OSError)) and str(e):  # ours carry one line meant for the user
        return str(e)
    return f"{type(e).__name__}: {e}"


@contextmanager
def job_harness(folder: Path, enabled: bool = True, cooperative: bool = True) -> Iterator[JobHandle]:
    """Run a job's body in its folder. ``enabled=False`` (a DDP rank other than 0) writes nothing
    but still hears SIGTERM. A ``cooperative`` job polls ``job.should_stop()``; any other is
    interrupted by ``JobCancelled`` when SIGTERM arrives. Exceptions other than that one
    propagate after the failed state is written. A job cancelled before the harness took it (a
    stop request in its folder) does not run: entering raises ``JobCancelled`` once the cancelled
    state is written."""
    job = JobHandle(folder, enabled)
    if job._lock:  # before anything is written: the folder may be another live process's
        job._lock.acquire(f"{Job(folder).kind or 'job'} {Path(folder).name}")

    def on_sigterm(*_):
        first = not job.stop_requested  # the heartbeat may send it again: one interruption only
        job.stop_requested = True
        if first and (not cooperative or job._interruptible):
            raise JobCancelled("cancelled")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        if job._beat:
            job._beat.start()
            if job.stop_requested or Job(folder).stop_requested:  # cancelled while its process started
                raise JobCancelled("cancelled before it began")
    except JobCancelled:  # nothing of the job ran: it ends cancelled, and the caller hears so
        job.state = "cancelled"
        job.closing = f"{Job(folder).kind or 'job'} {Path(folder).name}: cancelled before it began"
        job._beat.stop()
        signal.signal(signal.SIGTERM, previous)
        _close(job)
        raise
    except BaseException:
        signal.signal(signal.SIGTERM, previous)
        if job._lock:
            job._lock.release()
        raise
    try:
        yield job
    except JobCancelled:
        job.state = "cancelled"
    except BaseException as e:
        job.state = "cancelled" if job.stop_requested else "failed"
        job.fields.setdefault("error", _error_text(e))
        raise
    finally:
        if job._beat:  # before the handler goes: a beat must not send SIGTERM to a process without it
            job._beat.stop()
        signal.signal(signal.SIGTERM, previous)
        if job.enabled:
            _close(job)


def _close(job: JobHandle) -> None:
    state = job.state or ("cancelled" if job.stop_requested else "finished")
    line = job.closing or f"{Job(job.folder).kind or 'job'} {job.folder.name}: {state}" + (
        f" ({job.fields['error']})" if job.fields.get("error") else "")
    try:
        job._beat.finish(state, **job.fields)
    except OSError as e:  # a full or read-only store: say so rather than end in a traceback
        line += f"; its final state could not be written ({io.store_write_error(e) or e})"
    finally:
        job._lock.release()  # the last write is done: another process may take the folder
    print(line, file=sys.stderr, flush=True)
    try:
        schedule()
    except Exception as e:  # the queue must not turn a finished job into a failed one
        print(f"could not start the next queued job: {e}", file=sys.stderr)
