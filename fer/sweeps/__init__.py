"""Hyper-parameter sweeps with Optuna: a study (TPE sampler, median pruner fed with each epoch's
validation figure) whose trials are ordinary runs of the store.

- ``fer.sweeps.space``: what a sweep searches (config keys of the training schema, ``KEY=DIST:ARGS``)
- ``fer.sweeps.studies``: Optuna's storage (SQLite in the store, or ``study_storage``), studies read back
- ``fer.sweeps.coordinator``: ``Sweep`` (checked before any trial) and the loop that runs its trials
- ``fer.sweeps.trial``: the trainer's epoch hook inside a trial (report, prune)
- ``fer.sweeps.kinds``: the ``sweep`` job kind (no "jobs at once" slot) and the trial tag of ``train`` jobs

The Train page (``fer.ui.sweep_panel``) and ``python -m fer sweep`` make the same ``Sweep``; the
page queues it as a job, the command line runs it in the foreground.
"""
from __future__ import annotations

from pathlib import Path


def launch(sweep) -> Path:
    """Queue a checked ``Sweep`` as a job (what the Train page does); returns the job's folder."""
    from fer.jobs import launch as start

    return start.sweep(sweep.args(), device=sweep.device)
