"""Where a job's process runs: one interface, two backends.

``local`` starts ``python -m fer.worker <folder>`` on this machine; ``ray`` submits the same
command to a Ray cluster's job API (``ray_address``). The setting ``jobs_backend`` picks the one
for the kinds that may leave this machine (``JobKind.remote``: trainings, sweep trials,
evaluations); imports, alignments and sweep coordinators always run here. Either way the job
writes its own folder in the store, so its status, log and cancel request go through that folder,
which every machine must see (a shared filesystem at the same path).

A job's status records the backend that launched it (``backend``), so a page asks the right one
about it whatever the settings say now.
"""
from __future__ import annotations

import os
from typing import Protocol

from fer import settings
from fer.store import Job, root

ENTRY_POINT = "fer.worker"  # python -m fer.worker <job folder>: the only command a job runs


class Backend(Protocol):
    name: str

    def check(self) -> None:
        """Raise ``JobError`` with one line when jobs cannot be sent there (not installed, unreachable)."""

    def launch(self, job: Job, spec: dict) -> None:
        """Start the job's process and write its status (``running``, ``backend``, ...)."""

    def cancel(self, job: Job, status: dict) -> str:
        """Ask a running job to stop (it saves and ends ``cancelled``); returns what happened."""

    def refresh(self, job: Job, status: dict) -> dict:
        """The status as the backend knows it (a job that died before it could write its own)."""

    def log_tail(self, job: Job, lines: int) -> str:
        """The last lines of the job's log."""


def job_env(job: Job, spec: dict) -> dict[str, str]:
    """What a job's process needs beyond its machine's environment: the store, its folder, its device."""
    env = {"FER_ARTIFACTS": str(root()), "PYTHONUNBUFFERED": "1", "FER_JOB": str(job.folder)}
    if spec.get("device"):
        env["FER_DEVICE"] = str(spec["device"])
    return env


def tail(path, lines: int) -> str:
    """The last ``lines`` lines of a text file ('' when there is none)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def named(name: str) -> Backend:
    if name == "ray":
        from fer.jobs.backends.ray_jobs import RayBackend  # Ray is an optional extra

        return RayBackend(settings.load().ray_address)
    from fer.jobs.backends.local import LocalBackend

    return LocalBackend()


def in_force(remote: bool = True) -> Backend:
    """The backend the settings choose (``remote=False``: a kind that always runs here)."""
    return named(settings.load().jobs_backend if remote else "local")


def of(status: dict) -> Backend:
    """The backend that launched a job (from its status). A Ray job is asked about at the address
    of the settings only: a job file's own ``ray_address`` (it may have been edited) is never
    contacted."""
    name = status.get("backend", "local")
    if name == "ray":
        from fer.jobs.backends.ray_jobs import RayBackend

        return RayBackend(settings.load().ray_address)
    return named("local")
