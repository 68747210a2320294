"""The sweep's job kind: ``sweep`` runs a study's coordinator (``fer.sweeps.coordinator``) on
this machine and takes no "jobs at once" slot; its trials are ``train`` jobs with a ``trial`` tag,
whose epochs this module's listener reports to the study (``fer.jobs.kinds.EPOCH_LISTENERS``).
Checks are light (no torch, no Optuna): the config schema, the search space, the names. Importing
this module registers both (``fer.startup`` does, where a program starts)."""
from __future__ import annotations

import sys
from pathlib import Path

from fer.jobs.harness import job_harness
from fer.jobs.kinds import EPOCH_LISTENERS, REQUIRED, fields
from fer.jobs.registry import JobKind, register
from fer.store import Job, append_line, now
from fer.sweeps.trial import reporter


def check_sweep(args: dict) -> dict:
    from fer.sweeps.coordinator import Sweep

    args = fields(args, {"name": (str, REQUIRED), "config": (dict, REQUIRED), "search": (list, REQUIRED),
                         "trials": (int, 6), "parallel": (int, 1), "objective": (str, "val_macro_f1")})
    return Sweep.from_args(args).args()


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_sweep(args: dict, folder: Path, log=_log) -> int:
    """The coordinator inside the job harness; the study's summary goes into the job's status."""
    from fer.sweeps import coordinator

    sweep = coordinator.Sweep.from_args(args, device=Job(folder).spec().get("device"))
    with job_harness(folder, cooperative=True) as job:
        result = coordinator.run(sweep, job, log)
        job.end(result["state"], result={k: v for k, v in result.items() if k != "state"})
        best = (f"best {sweep.objective} {result['best_value']:.4f} (trial {result['best_trial']}, run "
                f"{result['best_run']})" if result["best_run"] else "no trial finished")
        job.closing = (f"sweep {sweep.name}: {result['state']}; {result['trials']} trials, {result['pruned']} pruned, "
                       f"{result['failed']} failed; {best}")
    return 0 if result["complete"] or result["state"] == "cancelled" else 1


def run_here(sweep, log=_log) -> tuple[Path, dict]:
    """A sweep in the foreground (``python -m fer sweep``), in a job folder of its own so that
    the pages follow and can cancel it like one started there."""
    job = Job.new()
    job.folder.mkdir(parents=True)

    def both(msg: str) -> None:  # the terminal and the job's log, which the pages show
        log(msg)
        append_line(job.log_path, msg)

    with job_harness(job.folder, cooperative=True) as handle:
        # the job file once the harness runs: the queue never sees this job as queued
        job.write_spec({"kind": "sweep", "args": sweep.args(), "device": sweep.device, "created": now()})
        from fer.sweeps import coordinator

        result = coordinator.run(sweep, handle, both)
        handle.end(result["state"], result={k: v for k, v in result.items() if k != "state"})
    return job.folder, result


register(JobKind("sweep", check_sweep, run_sweep, description="an Optuna study: trials as runs, pruned by their "
                 "epochs' validation figures", takes_slot=False))
EPOCH_LISTENERS["trial"] = reporter
