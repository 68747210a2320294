"""The training config, as one typed definition: every key is a field of a recipe section, with
its type, default, meaning, label and the values it takes (``fer.config.keys.key``). The schema,
the validation, the Train form, the sweeps' search space, the README's table and the recipe the
trainer reads all come from here.

A ``Recipe`` is a config resolved and checked once (``Recipe.from_config``); its fields mirror
the config's keys one for one (``recipe.model.dropout`` is ``model.dropout``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from fer.config.keys import key, section
from fer.store.layout import WEIGHTS

SPLITS = ("train", "val", "test")  # what eval_splits may name


def _crop_scale(value) -> str | None:
    ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) and 0 < value[0] <= value[1] <= 1
    return None if ok else "use [low, high] with 0 < low <= high <= 1"


def _splits(value) -> str | None:
    ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value) and set(value) <= set(SPLITS)
    return None if ok else f"a list of {', '.join(SPLITS)}"


def _device(value) -> str | None:
    ok = isinstance(value, str) and (value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()))
    return None if ok else "use auto, cpu, cuda or cuda:N"


def _teachers(value) -> str | None:
    ok = isinstance(value, (list, tuple)) and all(isinstance(t, str) and t for t in value)
    return None if ok else "a list of run ids or model names, e.g. [run1, run2]"


@dataclass(frozen=True)
class ModelSection:
    backbone: str = key("fer_cnn", "timm model name (resnet18, convnext_tiny, ...), fer_cnn or facenet_vggface2")
    pretrained: bool = key(False, "start from pretrained weights (needs the hub, or model.weights)")
    weights: str | None = key(None, f"a local weights file: timm ImageNet weights, or a 7-class {WEIGHTS}",
                              searchable=False)
    input_size: int = key(48, "input side in pixels", low=1)
    channels: int = key(1, "1 (grayscale) or 3 (RGB)", choices=(1, 3))
    dropout: float = key(0.3, "dropout before the classifier", low=0, high=1, high_open=True)
    transfer: str = key("full", "frozen (head only), partial (last N stages + head) or full",
                        choices=("frozen", "partial", "full"))
    partial_stages: int = key(1, "N for partial: how many of the last stages train", low=1)
    warmup_head_epochs: int = key(0, "epochs with the head alone before the transfer mode applies", low=0)

    def block(self) -> dict:
        """The ``model`` block ``fer.models.build`` takes."""
        return asdict(self)


@dataclass(frozen=True)
class OptimizerSection:
    name: str = key("adamw", "adam or adamw", choices=("adam", "adamw"))
    lr: float = key(1e-3, "learning rate of the backbone", label="learning rate", low=0, low_open=True, log=True)
    head_lr: float | None = key(None, "learning rate of the head (default: optimizer.lr)", label="head learning rate",
                                low=0, low_open=True, log=True)
    weight_decay: float = key(0.05, "weight decay", low=0, log=True)


@dataclass(frozen=True)
class ScheduleSection:
    name: str = key("cosine", "cosine or constant", choices=("cosine", "constant"))
    warmup_epochs: int = key(1, "linear learning-rate warm-up, in epochs", low=0)
    min_lr: float = key(1e-6, "learning rate at the end of the cosine", label="final learning rate", low=0,
                        low_open=True, log=True)


@dataclass(frozen=True)
class LossSection:
    label_smoothing: float = key(0.1, "label smoothing of the cross-entropy", low=0, high=1, high_open=True)
    class_weights: bool = key(False, "weight the loss by N / (C · N_c)")


@dataclass(frozen=True)
class SamplerSection:
    balanced: bool = key(False, "draw classes equally (weights N / (C · N_c))", label="balanced sampler")


@dataclass(frozen=True)
class AugmentSection:
    crop_scale: tuple[float, float] = key([0.8, 1.0], "RandomResizedCrop area range ([1, 1]: off)",
                                          check=_crop_scale, searchable=False)
    hflip: bool = key(True, "horizontal flip", label="horizontal flip")
    randaugment_n: int = key(2, "RandAugment: operations per image (0: off)", low=0)
    randaugment_m: int = key(6, "RandAugment: magnitude (of 30)", low=0, high=30)
    brightness: float = key(0.2, "ColorJitter brightness", low=0, high=1, high_open=True)
    contrast: float = key(0.2, "ColorJitter contrast", low=0, high=1, high_open=True)


@dataclass(frozen=True)
class MixupSection:
    alpha: float = key(0.0, "mixup alpha (0: off)", label="mixup alpha", low=0, zero="off")
    prob: float = key(0.5, "fraction of batches mixed when mixup.alpha > 0", label="mixup share of batches", low=0,
                      high=1)


@dataclass(frozen=True)
class EmaSection:
    enabled: bool = key(False, "validate with an exponential moving average of the weights (timm ModelEmaV3)",
                        label="EMA of the weights")
    decay: float = key(0.999, "EMA decay per step", label="EMA decay", low=0, low_open=True, search=(0.99, 0.9999))
    warmup: bool = key(False, "ramp the EMA decay up from 0 (timm's warm-up), so short runs validate well early",
                       label="EMA warm-up")


@dataclass(frozen=True)
class EarlyStoppingSection:
    patience: int = key(10, "epochs without a better val loss before stopping (0: never stop)",
                        label="early-stopping patience", low=0)


@dataclass(frozen=True)
class CheckpointSection:
    monitor: str = key("val_macro_f1", "metric that picks the best epoch: val_macro_f1, val_accuracy or val_loss",
                       label="best epoch by", choices=("val_macro_f1", "val_accuracy", "val_loss"))
    every_seconds: float = key(120.0, "also checkpoint inside an epoch this often, so a kill loses at most this much "
                                      "training (0: at the end of each epoch only)",
                               label="checkpoint every (seconds)", low=0, zero="at epoch ends only")


@dataclass(frozen=True)
class DistillSection:
    teachers: tuple[str, ...] = key([], "models to learn from (run ids or model names): their probabilities on the "
                                        "train images, averaged with the mirror image and over the teachers, become "
                                        "soft targets ([]: off)", check=_teachers, searchable=False)
    weight: float = key(0.7, "share of the teachers' probabilities in each target; the rest is the (smoothed) label",
                        low=0, high=1)
    temperature: float = key(1.0, "softens the teachers' probabilities (p^(1/T), renormalised); 1 leaves them as they "
                                  "are", low=0, low_open=True)


@dataclass(frozen=True)
class TtaSection:
    flip: bool = key(False, "the model averages each face with its mirror image whenever it predicts (validation, "
                            "evaluation, Predict, Live); recorded with the model")


@dataclass(frozen=True)
class Recipe:
    """A training config resolved and checked: what the trainer reads."""
    dataset: str | None = key(None, "dataset of the store to train on (required)", searchable=False)
    name: str | None = key(None, "display name of the run (default: preset and dataset)", label="run name",
                           searchable=False)
    seed: int = key(0, "random seed of weights, sampling and augmentation", low=0, searchable=False)
    epochs: int = key(30, "training epochs", low=1)
    batch_size: int = key(64, "images per batch", low=1)
    device: str = key("auto", "auto, cpu, cuda or cuda:N", check=_device, searchable=False)
    amp: bool = key(True, "mixed precision (CUDA only)", label="mixed precision (AMP)")
    channels_last: bool = key(True, "channels-last memory format (CUDA, and CPU where it is faster)")
    model: ModelSection = section(ModelSection)
    optimizer: OptimizerSection = section(OptimizerSection)
    schedule: ScheduleSection = section(ScheduleSection)
    loss: LossSection = section(LossSection)
    sampler: SamplerSection = section(SamplerSection)
    augment: AugmentSection = section(AugmentSection)
    mixup: MixupSection = section(MixupSection)
    ema: EmaSection = section(EmaSection)
    early_stopping: EarlyStoppingSection = section(EarlyStoppingSection)
    checkpoint: CheckpointSection = section(CheckpointSection)
    eval_splits: tuple[str, ...] = key(["test"], "splits evaluated with the best weights at the end",
                                       check=_splits, searchable=False)
    distill: DistillSection = section(DistillSection)
    tta: TtaSection = section(TtaSection)

    @classmethod
    def from_config(cls, cfg: dict) -> "Recipe":
        """``cfg`` resolved (keys added since a run was made take their defaults) and checked
        (``ConfigError`` naming the key before anything trains), as a recipe."""
        from fer.config.files import resolve
        from fer.config.schema import validate

        return _build(cls, validate(resolve(cfg)))

    @property
    def config(self) -> dict:
        """The resolved config, as config.yaml holds it and model.json records it."""
        return _plain(asdict(self))


def _build(cls, values: dict):
    """A section (or the recipe) from its part of a resolved config; lists become tuples."""
    out = {}
    for f in fields(cls):
        v = values[f.name]
        out[f.name] = _build(f.default_factory, v) if isinstance(v, dict) else tuple(v) if isinstance(v, list) else v
    return cls(**out)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value
