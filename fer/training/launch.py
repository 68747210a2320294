"""Training as a job: what the Train page (and anyone else) calls to start or resume a run."""
from __future__ import annotations

from pathlib import Path

from fer import jobs
from fer.jobs import resume_run as resume
from fer.runs import eta_seconds
from fer.store import Run, StoreError
from fer.store.io import store_write_error
from fer.training import config as C
from fer.training import trainer
from fer.training.config import presets


def launch(cfg: dict, device: str | None = None) -> Path:
    """Validate ``cfg`` (``ConfigError`` before anything is written), create the run, queue it. A
    store that cannot be written (read-only, full) is a ``StoreError`` with one line."""
    trainer.prepare(cfg)
    try:
        run = Run.create(cfg)
        return jobs.submit("train", {"run": run.id}, device=device)
    except OSError as e:
        raise StoreError(store_write_error(e) or f"cannot write to the store: {e}") from None


__all__ = ["C", "eta_seconds", "launch", "presets", "resume"]
