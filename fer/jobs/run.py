"""What the process of one job does (``python -m fer.worker FOLDER``, the only command the queue
starts, once every kind of job is registered). It reads the job file, checks its kind against the allow-list
and its arguments against the kind's validation, and runs it; a job that fails either is marked
``refused`` and nothing else happens. A job whose folder another live process still writes is
refused without touching the folder; an error the job reports ends in one line, not a traceback.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from fer.jobs.harness import JobCancelled
from fer.jobs.registry import kind_of
from fer.store import Job, NotFound, io, now
from fer.store.locks import FolderBusy


def _output_to(log: Path) -> None:
    """Send this process's stdout and stderr (and its children's) to the job's log in the store."""
    print(f"output goes to {log}", flush=True)
    sys.stderr.flush()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m fer.worker JOB_FOLDER", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    try:
        job = Job.open(folder.name)
    except (NotFound, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if job.folder.resolve() != folder.resolve():
        print(f"error: {folder} is not a job folder of the store", file=sys.stderr)
        return 2
    if os.environ.get("FER_JOB_LOG"):  # started by a cluster, whose own log only the cluster shows
        _output_to(job.log_path)
    spec = job.spec()
    try:
        kind = kind_of(spec)
        args = kind.check(dict(spec["args"]))
    except ValueError as e:
        job.write_status(state="refused", ended=now(), error=str(e))
        print(f"refused: {e}", file=sys.stderr)
        return 2
    try:
        return kind.run(args, job.folder)
    except JobCancelled:  # cancelled while this process started: the harness said so and ran nothing
        return 0
    except FolderBusy as e:  # another live process writes the folder: its status is not ours to touch
        print(f"refused: {e}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as e:  # the harness has recorded it; one line, not a traceback
        print(f"error: {io.store_write_error(e) or e}", file=sys.stderr)
        return 1
