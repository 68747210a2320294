"""Evaluations of the store: one model version on a dataset's split, where it lives (inside its
run or version, or under ``evals/`` for a model outside the store) and what it holds."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from fer.store import io, layout
from fer.store.names import NotFound, StoreError, check_name

if TYPE_CHECKING:
    from fer.store.models import ModelVersion

EVAL_SPLITS = ("test", "val", "train", "all")

@dataclass(frozen=True)
class Evaluation:
    """One evaluation of one model version on a dataset's split."""
    model: ModelVersion
    dataset: str
    split: str
    folder: Path

    @property
    def id(self) -> str:
        return f"{self.dataset}/{self.split}"

    @property
    def label(self) -> str:
        return f"{self.dataset} / {self.split}"

    @staticmethod
    def parse_id(eval_id: str) -> tuple[str, str]:
        """``dataset/split`` (``dataset / split`` too, as older links wrote it), both checked."""
        parts = [p.strip() for p in str(eval_id).split("/")]
        if len(parts) != 2 or parts[1] not in EVAL_SPLITS:
            raise NotFound(f"invalid evaluation id {eval_id!r}: use DATASET/SPLIT (split: {', '.join(EVAL_SPLITS)})")
        return check_name(parts[0], "dataset name"), parts[1]

    @classmethod
    def for_model(cls, model: ModelVersion, dataset: str, split: str) -> "Evaluation":
        """Where an evaluation of ``model`` on ``dataset``/``split`` lives (written or not)."""
        if split not in EVAL_SPLITS:
            raise StoreError(f"split {split!r}: use one of {', '.join(EVAL_SPLITS)}")
        return cls(model, dataset, split, model.eval_root / check_name(dataset, "dataset name") / split)

    @classmethod
    def on_dataset(cls, dataset: str) -> list["Evaluation"]:
        """Every evaluation on ``dataset`` of every run and model version (and the shipped model)."""
        from fer.store.models import Model
        from fer.store.runs import Run

        owners = [r.model() for r in Run.list() if r.has_weights]
        owners += [v for m in Model.list() for v in m.versions()]
        return [e for mv in owners for e in mv.evaluations() if e.dataset == dataset
                and (e.folder / layout.PREDICTIONS).exists()]

    def summary(self, flip: bool = False) -> dict:
        return io.read_json(self.folder / layout.evaluation_files(flip)[0], {}) or {}

    def predictions(self, flip: bool = False) -> pd.DataFrame:
        return pd.read_parquet(self.folder / layout.evaluation_files(flip)[1])

    @property
    def has_flip(self) -> bool:
        return (self.folder / layout.evaluation_files(True)[0]).exists()

    @property
    def stamp(self) -> tuple:
        return (str(self.folder), *io.file_version(*(self.folder / f for f in (*layout.evaluation_files(False),
                                                                                  *layout.evaluation_files(True)))))
