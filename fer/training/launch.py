"""Training as a job: what the Train page (and anyone else) calls to start or resume a run."""
from __future__ import annotations

import sys
from pathlib import Path

from fer import jobs, runs
from fer.training import config as C
from fer.training import trainer


def command(run_id: str) -> list[str]:
    # "--resume" on a fresh run starts it; on a stopped one it continues from last.pt
    return [sys.executable, "-m", "training.train", "--resume", run_id]


def launch(cfg: dict, device: str | None = None) -> Path:
    """Validate ``cfg`` (``ConfigError`` before anything is written), create the run, queue it."""
    trainer.prepare(cfg)
    folder = runs.create(cfg)
    jobs.submit(folder, command(folder.name), kind="train", device=device)
    return folder


def resume(run_id: str, device: str | None = None) -> Path:
    folder = runs.folder(run_id)
    state = jobs.status(folder)["state"]
    if state in jobs.ACTIVE:
        raise runs.RunError(f"run {run_id} is {state} already")
    if state == "finished":
        raise runs.RunError(f"run {run_id} has finished; start a new run to train longer")
    jobs.submit(folder, command(run_id), kind="train", device=device)
    return folder


def presets(folder: Path | None = None) -> dict[str, dict]:
    """The YAML presets of training/configs/, by file stem."""
    from fer import store

    folder = folder or store.REPO_ROOT / "training" / "configs"
    import yaml

    return {p.stem: yaml.safe_load(p.read_text("utf-8")) or {} for p in sorted(Path(folder).glob("*.yaml"))}


def eta_seconds(epochs_done: list[dict], progress: float, total_epochs: int) -> float | None:
    """Seconds left, from the mean time of the last three epochs and the current one's progress."""
    if not epochs_done:
        return None
    recent = epochs_done[-3:]
    per_epoch = sum(e["epoch_seconds"] for e in recent) / len(recent)
    return max(0.0, (total_epochs - len(epochs_done) - progress) * per_epoch)


__all__ = ["C", "command", "eta_seconds", "launch", "presets", "resume"]
