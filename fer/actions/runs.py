"""Trainings: start one (queued, or here in the foreground for the command line), cancel, resume,
start again from scratch, rename, delete."""
from __future__ import annotations

import os
from typing import Callable

from fer import jobs
from fer.actions.core import Entry, action
from fer.jobs import launch
from fer.store import Run, figures_of


def _config_target(cfg: dict, *args, **kwargs) -> str:
    model = cfg.get("model") or {}
    return f"a training of {model.get('backbone')} on {cfg.get('dataset')}"


@action("run.start", "start trainings", _config_target)
def start(entry: Entry, cfg: dict, device: str | None = None, here: bool = False, log: Callable = print,
          announce: Callable[[Run], None] = lambda run: None):
    """A new run of ``cfg``: queued (returns its folder), or trained here in the foreground
    (``here``; returns the run and how it ended; the record is written once the run exists)."""
    if not here:
        folder = launch.train(cfg, device)
        entry.target, entry.detail = f"run {folder.name}", {"run": folder.name, "dataset": cfg.get("dataset")}
        return folder

    def started(run: Run) -> None:  # rank 0's, under torchrun
        entry.target, entry.detail = f"run {run.id}", {"run": run.id, "dataset": cfg.get("dataset"), "here": True}
        entry.commit()
        announce(run)

    if int(os.environ.get("RANK", "0")) != 0:
        entry.written = True  # one record for the run: rank 0's
    return launch.train_here(cfg, log=log, announce=started)


def _again(entry: Entry, run_id: str, fresh: bool, device, here, log, announce):
    run = Run.open(run_id)
    entry.detail = {"run": run_id, "state": run.state, "epochs": len(run.epochs())}
    if fresh:
        entry.replaced = {"epochs": entry.detail["epochs"], "figures": figures_of(run.model().meta())
                          if run.has_weights else None}
    if not here:
        return launch.resume(run_id, device, fresh=fresh)
    if fresh:
        launch.clear_training(run)
    if int(os.environ.get("RANK", "0")) == 0:
        entry.commit()
        announce(run)
    else:
        entry.written = True  # one record for the run: rank 0's
    return launch.train_here(run=run, log=log)


@action("run.resume", "resume trainings", lambda run_id, *a, **k: f"run {run_id}")
def resume(entry: Entry, run_id: str, device: str | None = None, here: bool = False, log: Callable = print,
           announce: Callable[[Run], None] = lambda run: None):
    """A cancelled, failed or refused run goes on from its last checkpoint."""
    return _again(entry, run_id, False, device, here, log, announce)


@action("run.restart", "start trainings again from scratch", lambda run_id, *a, **k: f"run {run_id}")
def restart(entry: Entry, run_id: str, device: str | None = None, here: bool = False, log: Callable = print,
            announce: Callable[[Run], None] = lambda run: None):
    """The run trained again from scratch: its checkpoints, epochs, weights and evaluations go."""
    return _again(entry, run_id, True, device, here, log, announce)


@action("run.cancel", "cancel trainings", lambda run_id: f"run {run_id}")
def cancel(entry: Entry, run_id: str) -> str:
    run = Run.open(run_id)
    outcome = jobs.cancel(run.folder)
    entry.detail = {"run": run_id, "name": run.name, "answer": outcome}
    return outcome


@action("run.rename", "rename runs", lambda run_id, name: f"run {run_id} → {name!r}")
def rename(entry: Entry, run_id: str, name: str) -> None:
    run = Run.open(run_id)
    entry.replaced = {"name": run.name}
    run.set_name(name)


@action("run.delete", "delete runs", lambda run_id: f"run {run_id}")
def delete(entry: Entry, run_id: str) -> None:
    run = Run.open(run_id)
    entry.replaced = {"name": run.name, "dataset": run.dataset, "state": run.state,
                      "figures": figures_of(run.model().meta()) if run.has_weights else None}
    run.delete()


