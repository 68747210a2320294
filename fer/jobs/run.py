"""``python -m fer.jobs.run FOLDER``: the process of one job of the store.

The only command the queue starts. It reads the job file, checks its kind against the allow-list
and its arguments against the kind's validation, and runs it; a job that fails either is marked
``refused`` and nothing else happens.
"""
from __future__ import annotations

import sys
from pathlib import Path

from fer.jobs.registry import kind_of
from fer.store import Job, NotFound, now


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m fer.jobs.run JOB_FOLDER", file=sys.stderr)
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
    spec = job.spec()
    try:
        kind = kind_of(spec)
        args = kind.check(dict(spec["args"]))
    except ValueError as e:
        job.write_status(state="refused", ended=now(), error=str(e))
        print(f"refused: {e}", file=sys.stderr)
        return 2
    return kind.run(args, job.folder)


if __name__ == "__main__":
    sys.exit(main())
