"""A run's recipe: its config resolved and checked once, as typed fields the trainer reads.

Sections mirror the config's (``model``, ``optimizer``, ``schedule``, ``loss``, ``mixup``, ``ema``,
``distill``);
``Recipe.from_config`` fails with ``ConfigError`` naming the key before anything trains.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from fer.training import config as C


@dataclass(frozen=True)
class ModelRecipe:
    backbone: str
    pretrained: bool
    weights: str | None
    input_size: int
    channels: int
    dropout: float
    transfer: str
    partial_stages: int
    warmup_head_epochs: int

    def block(self) -> dict:
        """The ``model`` block ``fer.models.build`` takes."""
        return asdict(self)


@dataclass(frozen=True)
class OptimizerRecipe:
    name: str
    lr: float
    head_lr: float | None
    weight_decay: float


@dataclass(frozen=True)
class ScheduleRecipe:
    name: str
    warmup_epochs: int
    min_lr: float


@dataclass(frozen=True)
class LossRecipe:
    label_smoothing: float
    class_weights: bool


@dataclass(frozen=True)
class MixupRecipe:
    alpha: float
    prob: float


@dataclass(frozen=True)
class EmaRecipe:
    enabled: bool
    decay: float
    warmup: bool


@dataclass(frozen=True)
class DistillRecipe:
    teachers: tuple[str, ...]  # run ids or model names; empty: no distillation
    weight: float
    temperature: float


@dataclass(frozen=True)
class Recipe:
    config: dict  # the resolved config, as config.yaml holds it and model.json records it
    dataset: str
    seed: int
    epochs: int
    batch_size: int
    device: str
    amp: bool
    channels_last: bool
    model: ModelRecipe
    optimizer: OptimizerRecipe
    schedule: ScheduleRecipe
    loss: LossRecipe
    balanced_sampler: bool
    augment: dict
    mixup: MixupRecipe
    ema: EmaRecipe
    patience: int
    monitor: str
    checkpoint_seconds: float
    eval_splits: tuple[str, ...]
    distill: DistillRecipe
    tta_flip: bool

    @classmethod
    def from_config(cls, cfg: dict) -> "Recipe":
        cfg = C.validate(C.resolve(cfg))  # keys added since a run was made take their defaults
        return cls(
            config=cfg, dataset=cfg["dataset"], seed=cfg["seed"], epochs=cfg["epochs"], batch_size=cfg["batch_size"],
            device=cfg["device"], amp=cfg["amp"], channels_last=cfg["channels_last"],
            model=ModelRecipe(**cfg["model"]), optimizer=OptimizerRecipe(**cfg["optimizer"]),
            schedule=ScheduleRecipe(**cfg["schedule"]), loss=LossRecipe(**cfg["loss"]),
            balanced_sampler=cfg["sampler"]["balanced"], augment=dict(cfg["augment"]), mixup=MixupRecipe(**cfg["mixup"]),
            ema=EmaRecipe(**cfg["ema"]), patience=cfg["early_stopping"]["patience"],
            monitor=cfg["checkpoint"]["monitor"], checkpoint_seconds=float(cfg["checkpoint"]["every_seconds"]),
            eval_splits=tuple(cfg["eval_splits"]),
            distill=DistillRecipe(tuple(cfg["distill"]["teachers"]), float(cfg["distill"]["weight"]),
                                  float(cfg["distill"]["temperature"])),
            tta_flip=cfg["tta"]["flip"])
