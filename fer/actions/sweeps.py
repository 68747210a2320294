"""Sweeps: start a study (queued, or here for the command line), cancel it, promote its best trial."""
from __future__ import annotations

from typing import Callable

from fer import jobs
from fer.actions.core import Entry, action
from fer.actions.models import promote_run
from fer.store import Job
from fer.sweeps import kinds, launch, studies


@action("sweep.start", "start sweeps", lambda sweep, *a, **k: f"study {sweep.name}")
def start(entry: Entry, sweep, here: bool = False, log: Callable = print):
    """A checked ``Sweep``: queued as a job (returns its folder), or its coordinator here in the
    foreground (returns the job's folder and the study's summary)."""
    entry.detail = {"study": sweep.name, "trials": sweep.trials, "search": [p.text for p in sweep.params],
                    "dataset": sweep.config.get("dataset")}
    if not here:
        folder = launch(sweep)
        entry.detail["job"] = folder.name
        return folder
    entry.commit()
    return kinds.run_here(sweep, log=log)


@action("sweep.cancel", "cancel sweeps", lambda job_id: f"sweep job {job_id}")
def cancel(entry: Entry, job_id: str) -> str:
    job = Job.open(job_id)
    entry.detail = {"job": job_id, "study": (job.spec().get("args") or {}).get("name")}
    return jobs.cancel(job.folder)


@action("sweep.promote_best", "promote models", lambda study, name: f"study {study}'s best trial → {name}")
def promote_best(entry: Entry, study: str, name: str):
    """The study's best trial's run becomes a new version of ``name`` (and its current one)."""
    best = studies.best(studies.load(study))
    if not best or not best.get("run"):
        raise ValueError(f"study {study!r} has no finished trial to promote")
    return promote_run(entry, best["run"], name, study=study, trial=best["number"])
