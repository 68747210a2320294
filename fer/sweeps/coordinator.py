"""A sweep's coordinator: asks the study for trials, runs each as an ordinary run of the store (a
``train`` job through the backend in force, so it has its folder, curves, cancel and resume),
and tells the study how each ended.

It runs as a job of kind ``sweep`` (or in the foreground, ``python -m fer sweep``) that takes no
"jobs at once" slot: it only waits for its trials, which take theirs. The trials report each
epoch's validation figure to the study themselves (``fer.sweeps.trial``), and stop when the
median pruner says so; their run then ends ``pruned``. A stop request (Cancel, SIGTERM, Ctrl-C)
cancels every trial it started and ends the study's part in this sweep.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from fer import config as C
from fer.jobs import launch
from fer.jobs.harness import JobHandle
from fer.jobs.queue import cancel, status
from fer.store import ACTIVE, Dataset, Run, check_name, new_id
from fer.sweeps import space, studies

POLL_SECONDS = 2.0
STOP_WAIT_SECONDS = 120  # how long a cancelled sweep waits for its trials to save and stop


@dataclass(frozen=True)
class Sweep:
    """A checked sweep: the study's name, the base config, what to search, how many trials."""
    name: str
    config: dict  # resolved, dataset included
    params: tuple[space.Param, ...]
    trials: int = 6
    parallel: int = 1
    objective: str = "val_macro_f1"
    device: str | None = None
    seed: int = 0

    @classmethod
    def create(cls, name: str | None, config: dict, search: list[str], trials: int = 6, parallel: int = 1,
               objective: str = "val_macro_f1", device: str | None = None) -> "Sweep":
        """Everything checked before any trial runs; ``ValueError`` naming the problem otherwise."""
        name = name or f"sweep-{new_id()}"
        check_name(name, "study name")
        config = C.validate(C.resolve(config))
        Dataset.open(config["dataset"])
        if objective not in studies.OBJECTIVES:
            raise ValueError(f"--objective {objective!r}: use {' or '.join(studies.OBJECTIVES)}")
        if not (isinstance(trials, int) and 1 <= trials <= 10_000):
            raise ValueError(f"--trials {trials!r}: use 1 to 10,000")
        if not (isinstance(parallel, int) and 1 <= parallel <= 64):
            raise ValueError(f"--parallel {parallel!r}: use 1 to 64 trials at once")
        params = tuple(space.check(list(search), config))
        return cls(name, config, params, trials, parallel, objective, device, int(config.get("seed") or 0))

    def args(self) -> dict:
        """The job file's arguments (checked again by ``Sweep.from_args`` in the job's process)."""
        return {"name": self.name, "config": self.config, "search": [p.text for p in self.params],
                "trials": self.trials, "parallel": self.parallel, "objective": self.objective}

    @classmethod
    def from_args(cls, args: dict, device: str | None = None) -> "Sweep":
        return cls.create(args["name"], args["config"], args["search"], args["trials"], args["parallel"],
                          args["objective"], device)

    def study_spec(self) -> dict:
        """What the study keeps of its sweep (a resumed study must search the same)."""
        return {"search": [p.text for p in self.params], "objective": self.objective, "config": self.config}

    def trial_config(self, number: int, values: dict) -> dict:
        cfg = copy.deepcopy(self.config)
        for key, value in values.items():
            C.set_key(cfg, key, value)
        C.set_key(cfg, "name", f"{self.name} #{number}")
        if "checkpoint.monitor" not in values:  # the weights kept are the best by the study's objective
            C.set_key(cfg, "checkpoint.monitor", self.objective)
        return C.validate(cfg)


def run(sweep: Sweep, job: JobHandle, log: Callable[[str], None]) -> dict:
    """Run ``sweep.trials`` more trials of the study, ``sweep.parallel`` at once; returns the
    study's summary (``state``: finished or cancelled)."""
    t0 = time.time()
    study = studies.create(sweep.name, sweep.study_spec(), seed=sweep.seed)
    running = _adopt(study, log)
    started = 0
    log(f"study {sweep.name}: {sweep.trials} trial(s), {sweep.parallel} at once, maximising {sweep.objective}; "
        f"storage {studies.shown_url()}")
    while started < sweep.trials or running:
        if job.should_stop():
            _stop(study, running, sweep.objective, log)
            return summary(study, "cancelled", time.time() - t0)
        for number, folder in list(running.items()):
            s = status(folder)
            if s["state"] not in ACTIVE:
                _tell(study, number, Run(folder), s, sweep.objective, log)
                del running[number]
        while len(running) < sweep.parallel and started < sweep.trials and not job.should_stop():
            number, folder = _start(study, sweep, log)
            running[number] = folder
            started += 1
        c = studies.counts(study)
        job.progress(progress=(started - len(running)) / sweep.trials,
                     message=f"{c.get('complete', 0)} complete, {c.get('pruned', 0)} pruned, "
                             f"{c.get('fail', 0)} failed, {len(running)} running")
        if running:
            time.sleep(POLL_SECONDS)
    return summary(study, "finished", time.time() - t0)


def _start(study, sweep: Sweep, log) -> tuple[int, Path]:
    """Ask for a trial, make its run, queue it as a train job that reports to the study."""
    trial = study.ask()
    values = {p.key: p.suggest(trial) for p in sweep.params}
    try:
        run_ = launch.trial(sweep.trial_config(trial.number, values), sweep.name, trial.number, sweep.device,
                            made=lambda run: trial.set_user_attr("run", run.id))
    except ValueError as e:
        study.tell(trial, state=studies.optuna().trial.TrialState.FAIL)
        raise ValueError(f"trial {trial.number} could not start: {e}") from None
    log(f"trial {trial.number}: run {run_.id} with " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                                 for k, v in values.items()))
    return trial.number, run_.folder


def _tell(study, number: int, run_: Run, s: dict, objective: str, log) -> None:
    """Tell the study how trial ``number`` ended: its best epoch's figure, pruned, or failed."""
    TrialState = studies.optuna().trial.TrialState
    epochs = run_.epochs()
    if s["state"] == "pruned":
        study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
        log(f"trial {number}: pruned after epoch {s.get('epoch', len(epochs))}")
    elif s["state"] == "finished" and objective in epochs and len(epochs):
        value = float(epochs[objective].max())
        study.tell(number, value, skip_if_finished=True)
        log(f"trial {number}: {objective} {value:.4f} (best of {len(epochs)} epochs)")
    else:
        study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
        log(f"trial {number}: {s['state']}" + (f" ({s['error']})" if s.get("error") else ""))


def _adopt(study, log) -> dict[int, Path]:
    """Trials an earlier coordinator left running (it was killed): follow those whose run still
    exists, fail the others."""
    running = {}
    for t in study.get_trials(deepcopy=False, states=(studies.optuna().trial.TrialState.RUNNING,)):
        try:
            running[t.number] = Run.open(t.user_attrs.get("run", "")).folder
            log(f"trial {t.number}: following run {t.user_attrs['run']}, left running by an earlier sweep")
        except ValueError:
            study.tell(t.number, state=studies.optuna().trial.TrialState.FAIL, skip_if_finished=True)
    return running


def _stop(study, running: dict[int, Path], objective: str, log) -> None:
    """Cancel every running trial, wait for them to save and stop, and fail them in the study."""
    log(f"stopping: cancelling {len(running)} running trial(s)")
    for folder in running.values():
        cancel(folder)
    deadline = time.time() + STOP_WAIT_SECONDS
    while any(status(f)["state"] in ACTIVE for f in running.values()) and time.time() < deadline:
        time.sleep(POLL_SECONDS / 2)
    for number, folder in running.items():
        _tell(study, number, Run(folder), status(folder), objective, log)


def summary(study, state: str, seconds: float) -> dict:
    """What the CLI prints and the job's status keeps: best trial, counts, duration."""
    best = studies.best(study)
    c = studies.counts(study)
    return {"state": state, "study": study.study_name, "best_value": best["value"] if best else None,
            "best_params": best["params"] if best else None, "best_run": best["run"] if best else None,
            "best_trial": best["number"] if best else None, "trials": sum(c.values()),
            "complete": c.get("complete", 0), "pruned": c.get("pruned", 0), "failed": c.get("fail", 0),
            "seconds": round(seconds, 1)}
