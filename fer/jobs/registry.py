"""The job kinds FER Studio runs: an allow-list, open to extension (``register``).

A job file holds a kind and its arguments, never a command line. Before a job is queued, again
before its process starts, and once more inside that process, the arguments are checked by the
kind's ``check`` (the same validation the pages apply: the config schema for training, the import
roots for imports ...); a job whose kind is not registered, or whose arguments fail, never runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable


class JobError(ValueError):
    """A job that cannot be queued or run: one line that says why."""


@dataclass(frozen=True)
class JobKind:
    name: str
    check: Callable[[dict], dict]  # the arguments, validated and normalised; raises ValueError. Light: no torch
    run: Callable[[dict, Path], int]  # in the job's own process: does the work, returns an exit code
    folder: Callable[[dict], Path] | None = None  # where the job lives (a training: its run); default jobs/<id>
    description: str = ""
    remote: bool = False  # may run on a cluster (jobs_backend); False: always a process of this machine
    takes_slot: bool = True  # counts against max_jobs; a sweep's coordinator does not (it waits for its trials)


KINDS: dict[str, JobKind] = {}
_every_kind = [False]  # set where a program starts, once every package has registered its kinds


def register(kind: JobKind) -> JobKind:
    """Add a kind (e.g. a sweep) to the allow-list."""
    KINDS[kind.name] = kind
    return kind


def all_registered() -> None:
    """Say that this process knows every kind (``fer.startup``): a job of a kind it does not know
    is then refused, never left for another process."""
    _every_kind[0] = True


def knows(spec: dict) -> bool:
    """Whether this process may judge the job file ``spec``: it knows its kind, or it knows every
    kind there is (a process that registered only some, e.g. a script importing ``fer.jobs``,
    leaves a job of another kind queued for a program that knows it)."""
    return _every_kind[0] or not isinstance(spec, dict) or spec.get("kind") in KINDS


def kind_of(spec: dict) -> JobKind:
    """The registered kind of a job file, its arguments checked; ``JobError`` otherwise."""
    if not isinstance(spec, dict) or "args" not in spec:
        what = "a command line" if isinstance(spec, dict) and "command" in spec else "no job kind and arguments"
        raise JobError(f"not run: the job file holds {what} (an older FER Studio queued it); start it again")
    kind = KINDS.get(spec.get("kind"))
    if kind is None:
        raise JobError(f"not run: {spec.get('kind')!r} is not a kind of job FER Studio runs "
                       f"({', '.join(sorted(KINDS))})")
    if not isinstance(spec["args"], dict):
        raise JobError("not run: the job's arguments are not a mapping")
    return kind
