"""Training as a job: what the Train page (and anyone else) calls to start or resume a run."""
from __future__ import annotations

from pathlib import Path

from fer import jobs, runs
from fer.runs import eta_seconds, resume, train_command
from fer.training import config as C
from fer.training import trainer


def launch(cfg: dict, device: str | None = None) -> Path:
    """Validate ``cfg`` (``ConfigError`` before anything is written), create the run, queue it."""
    trainer.prepare(cfg)
    folder = runs.create(cfg)
    jobs.submit(folder, train_command(folder.name), kind="train", device=device)
    return folder


def presets(folder: Path | None = None) -> dict[str, dict]:
    """The YAML presets of training/configs/, by file stem."""
    from fer import store

    folder = folder or store.REPO_ROOT / "training" / "configs"
    import yaml

    return {p.stem: yaml.safe_load(p.read_text("utf-8")) or {} for p in sorted(Path(folder).glob("*.yaml"))}


__all__ = ["C", "eta_seconds", "launch", "presets", "resume"]
