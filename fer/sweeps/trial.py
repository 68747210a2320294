"""Inside a trial's training process: each epoch's validation figure goes to the study, which may
prune the trial (the median of the finished trials at that epoch is better), and the run then
stops after that epoch (``pruned``).

The trial is the one the coordinator asked for, found again in the shared storage by the study's
name and the trial's number, so this works in a process of its own on any machine that reaches
the storage (a Ray worker included).
"""
from __future__ import annotations

from typing import Callable

from fer.sweeps import studies


def reporter(tag: dict, log: Callable[[str], None]) -> Callable[[int, dict], bool]:
    """The trainer's epoch hook for trial ``tag`` (``{"study", "number"}``): reports the study's
    objective and answers whether to stop. A storage that cannot be written to never stops the
    training: the epoch is logged as not reported and the run goes on."""
    study = studies.load(tag["study"])
    figure = studies.OBJECTIVES[study.user_attrs.get("objective", "val_macro_f1")]
    trial = studies.trial_of(study, tag["number"])

    def on_epoch(epoch: int, validation: dict) -> bool:
        try:
            trial.report(float(validation[figure]), step=epoch)
            return trial.should_prune()
        except Exception as e:  # a busy database, a trial its coordinator has closed
            log(f"epoch {epoch} not reported to study {tag['study']}: {type(e).__name__}: {e}")
            return False

    return on_epoch
