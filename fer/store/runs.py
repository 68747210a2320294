"""Runs of the store: ``runs/<id>/`` with its immutable id, display name, config, status,
metrics, checkpoints, weights and evaluations. A run is a job too (``Run.job``)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import yaml

from fer.store import io, layout
from fer.store.jobs import ACTIVE, Job
from fer.store.names import ModelNotFound, RunError, check_name, children, inside, new_id, now

if TYPE_CHECKING:
    from fer.store.models import ModelVersion

@dataclass(frozen=True)
class Run:
    folder: Path

    @property
    def id(self) -> str:
        return self.folder.name

    @classmethod
    def list(cls) -> list["Run"]:
        """Every run of the store, newest first (an id is its creation time, to 1/65536 s)."""
        return [cls(p) for p in reversed(children(layout.runs_dir())) if (p / layout.RUN).exists()]

    @classmethod
    def open(cls, run_id: str) -> "Run":
        check_name(run_id, "run id")
        f = layout.runs_dir() / run_id
        if not (f / layout.RUN).exists():
            raise RunError(f"no run {run_id!r} in {layout.runs_dir()}")
        return cls(inside(f, f"run {run_id!r}"))

    @classmethod
    def create(cls, config: dict, tags: dict | None = None) -> "Run":
        """A new run folder: immutable id, display name, the resolved config, state queued;
        ``tags`` say where it comes from (a sweep's trial: ``{"study": NAME, "trial": N}``)."""
        run_id = new_id()
        f = layout.runs_dir() / run_id
        f.mkdir(parents=True)
        name = config.get("name") or f"{config['model']['backbone']} on {config['dataset']}"
        io.write_json(f / layout.RUN, {"id": run_id, "name": name, "created": now(), "dataset": config["dataset"],
                                       "tags": dict(tags or {})})
        io.write_text(f / layout.CONFIG, yaml.safe_dump(config, sort_keys=False))
        run = cls(f)
        run.job.write_status(state="queued", queued=now())
        return run

    checkpoint_path = property(lambda self: self.folder / layout.CHECKPOINT)
    previous_checkpoint_path = property(lambda self: self.folder / layout.CHECKPOINT_PREVIOUS)
    model_files = property(lambda self: (self.folder / layout.WEIGHTS, self.folder / layout.MODEL_META))
    eval_dir = property(lambda self: self.folder / layout.EVAL)
    config_path = property(lambda self: self.folder / layout.CONFIG)
    log_path = property(lambda self: self.folder / layout.TRAIN_LOG)
    metrics_path = property(lambda self: self.folder / layout.METRICS)

    def meta(self) -> dict:
        m = io.read_json(self.folder / layout.RUN, {})
        return m if isinstance(m, dict) else {}

    @property
    def name(self) -> str:
        return self.meta().get("name") or self.id

    @property
    def dataset(self) -> str | None:
        return self.meta().get("dataset")

    @property
    def tags(self) -> dict:
        tags = self.meta().get("tags")
        return tags if isinstance(tags, dict) else {}  # runs made before tags had a list

    def set_name(self, name: str) -> None:
        """The display name (the id never changes)."""
        if not name.strip():
            raise RunError("a run's name cannot be empty")
        io.write_json(self.folder / layout.RUN, {**self.meta(), "name": name.strip()})

    def config(self) -> dict:
        return yaml.safe_load(self.config_path.read_text("utf-8"))

    def write_config(self, config: dict) -> None:
        io.write_text(self.config_path, yaml.safe_dump(config, sort_keys=False))

    @property
    def job(self) -> Job:
        return Job(self.folder)

    def status(self) -> dict:
        return self.job.status()

    @property
    def state(self) -> str:
        return self.status()["state"]

    def metrics(self) -> list[dict]:
        """The records of metrics.jsonl. A line that is not one JSON object (torn by a process
        killed mid-write, or damaged: not UTF-8, a bare number or list) is skipped."""
        try:
            raw = self.metrics_path.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for line in raw.splitlines():
            try:
                record = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def epochs(self) -> pd.DataFrame:
        return pd.DataFrame([m for m in self.metrics() if m.get("kind") == "epoch"])

    def append_metrics(self, record: dict) -> None:
        io.append_line(self.metrics_path, json.dumps(record))

    @property
    def has_weights(self) -> bool:
        return (self.folder / layout.WEIGHTS).exists() and (self.folder / layout.MODEL_META).exists()

    def model(self) -> "ModelVersion":
        from fer.store.models import ModelVersion  # models know runs (promotion), not the other way round

        if not self.has_weights:
            raise ModelNotFound(f"run {self.id} has no weights yet")
        return ModelVersion("run", self.id, None, self.folder)

    def delete(self) -> None:
        state = self.state
        if state in ACTIVE:
            raise RunError(f"run {self.id} is {state}: cancel it first")
        io.remove_folder(self.folder)

    @property
    def stamp(self) -> tuple:
        return io.file_version(self.folder / layout.RUN, self.folder / layout.STATUS, self.metrics_path,
                               self.folder / layout.MODEL_META)
