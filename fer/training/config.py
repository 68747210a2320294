"""Training configs: defaults, YAML presets, ``--set key=value`` overrides, validation.

A config is a plain nested dict; the resolved one is written into the run folder as
``config.yaml`` so that ``--config runs/<id>/config.yaml`` reruns it exactly. Presets ship with
the package (``fer/presets/*.yaml``; ``training/configs/`` in a checkout is the same folder), and
``--config`` takes a preset's name or a file.
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

from fer.store.layout import WEIGHTS

# Every key, its default and its meaning: the README's config table is generated from this.
SCHEMA: dict[str, tuple] = {
    "dataset": (None, "dataset of the store to train on (required)"),
    "name": (None, "display name of the run (default: preset and dataset)"),
    "seed": (0, "random seed of weights, sampling and augmentation"),
    "epochs": (30, "training epochs"),
    "batch_size": (64, "images per batch"),
    "device": ("auto", "auto, cpu, cuda or cuda:N"),
    "amp": (True, "mixed precision (CUDA only)"),
    "channels_last": (True, "channels-last memory format (CUDA, and CPU where it is faster)"),
    "model.backbone": ("fer_cnn", "timm model name (resnet18, convnext_tiny, ...), fer_cnn or facenet_vggface2"),
    "model.pretrained": (False, "start from pretrained weights (needs the hub, or model.weights)"),
    "model.weights": (None, f"a local weights file: timm ImageNet weights, or a 7-class {WEIGHTS}"),
    "model.input_size": (48, "input side in pixels"),
    "model.channels": (1, "1 (grayscale) or 3 (RGB)"),
    "model.dropout": (0.3, "dropout before the classifier"),
    "model.transfer": ("full", "frozen (head only), partial (last N stages + head) or full"),
    "model.partial_stages": (1, "N for partial: how many of the last stages train"),
    "model.warmup_head_epochs": (0, "epochs with the head alone before the transfer mode applies"),
    "optimizer.name": ("adamw", "adam or adamw"),
    "optimizer.lr": (1e-3, "learning rate of the backbone"),
    "optimizer.head_lr": (None, "learning rate of the head (default: optimizer.lr)"),
    "optimizer.weight_decay": (0.05, "weight decay"),
    "schedule.name": ("cosine", "cosine or constant"),
    "schedule.warmup_epochs": (1, "linear learning-rate warm-up, in epochs"),
    "schedule.min_lr": (1e-6, "learning rate at the end of the cosine"),
    "loss.label_smoothing": (0.1, "label smoothing of the cross-entropy"),
    "loss.class_weights": (False, "weight the loss by N / (C · N_c)"),
    "sampler.balanced": (False, "draw classes equally (weights N / (C · N_c))"),
    "augment.crop_scale": ([0.8, 1.0], "RandomResizedCrop area range ([1, 1]: off)"),
    "augment.hflip": (True, "horizontal flip"),
    "augment.randaugment_n": (2, "RandAugment: operations per image (0: off)"),
    "augment.randaugment_m": (6, "RandAugment: magnitude (of 30)"),
    "augment.brightness": (0.2, "ColorJitter brightness"),
    "augment.contrast": (0.2, "ColorJitter contrast"),
    "mixup.alpha": (0.0, "mixup alpha (0: off)"),
    "mixup.prob": (0.5, "fraction of batches mixed when mixup.alpha > 0"),
    "ema.enabled": (False, "validate with an exponential moving average of the weights (timm ModelEmaV3)"),
    "ema.decay": (0.999, "EMA decay per step"),
    "ema.warmup": (False, "ramp the EMA decay up from 0 (timm's warm-up), so short runs validate well early"),
    "early_stopping.patience": (10, "epochs without a better val loss before stopping (0: never stop)"),
    "checkpoint.monitor": ("val_macro_f1", "metric that picks the best epoch: val_macro_f1, val_accuracy or val_loss"),
    "checkpoint.every_seconds": (120.0, "also checkpoint inside an epoch this often, so a kill loses at most this "
                                        "much training (0: at the end of each epoch only)"),
    "eval_splits": (["test"], "splits evaluated with the best weights at the end"),
    "distill.teachers": ([], "models to learn from (run ids or model names): their probabilities on the train images, "
                             "averaged with the mirror image and over the teachers, become soft targets ([]: off)"),
    "distill.weight": (0.7, "share of the teachers' probabilities in each target; the rest is the (smoothed) label"),
    "distill.temperature": (1.0, "softens the teachers' probabilities (p^(1/T), renormalised); 1 leaves them as they are"),
    "tta.flip": (False, "the model averages each face with its mirror image whenever it predicts (validation, "
                        "evaluation, Predict, Live); recorded with the model"),
}
CHOICES = {
    "model.transfer": ("frozen", "partial", "full"),
    "optimizer.name": ("adam", "adamw"),
    "schedule.name": ("cosine", "constant"),
    "checkpoint.monitor": ("val_macro_f1", "val_accuracy", "val_loss"),
    "model.channels": (1, 3),
}


PRESETS = Path(__file__).resolve().parents[1] / "presets"


class ConfigError(ValueError):
    """A config that cannot train: the message names the key and what is wrong."""


# A preset's one line about itself (what it trains, how long it takes); not a setting, so it is
# never part of a run's config.
DESCRIPTION = "description"


def presets() -> dict[str, dict]:
    """The presets shipped with the package, by name (each with its ``description``)."""
    return {p.stem: yaml.safe_load(p.read_text("utf-8")) or {} for p in sorted(PRESETS.glob("*.yaml"))}


def description(preset: dict) -> str:
    """A preset's one-line description ('' when it has none)."""
    return str(preset.get(DESCRIPTION) or "").strip()


def config_file(preset_or_file: str | Path) -> Path:
    """A YAML file as given, else the preset of that name; ``ConfigError`` naming both otherwise."""
    path = Path(preset_or_file).expanduser()
    if path.is_file():
        return path
    preset = PRESETS / f"{preset_or_file}.yaml"
    if str(preset_or_file) and "/" not in str(preset_or_file) and preset.is_file():
        return preset
    names = ", ".join(p.stem for p in sorted(PRESETS.glob("*.yaml")))
    raise ConfigError(f"--config {preset_or_file}: no such config file, nor a preset ({names})")


def defaults() -> dict:
    cfg: dict = {}
    for key, (value, _) in SCHEMA.items():
        set_key(cfg, key, copy.deepcopy(value))
    return cfg


def set_key(cfg: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    node = cfg
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value


def get_key(cfg: dict, dotted: str):
    node = cfg
    for p in dotted.split("."):
        node = node[p]
    return node


def flatten(cfg: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def resolve(base: dict | None = None, sets: list[str] | None = None) -> dict:
    """Defaults, then ``base`` (a preset), then ``key=value`` overrides; unknown keys refused."""
    cfg = defaults()
    base = {k: v for k, v in (base or {}).items() if k != DESCRIPTION}
    for key, value in flatten(base).items():
        if key not in SCHEMA:
            raise ConfigError(f"unknown config key {key!r}; see the README for the keys")
        set_key(cfg, key, value)
    for item in sets or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: use key=value, e.g. --set epochs=30")
        key, raw = item.split("=", 1)
        key = key.strip()
        if key not in SCHEMA:
            close = [k for k in SCHEMA if k.endswith("." + key) or key in k]
            hint = f" (did you mean {', '.join(close[:3])}?)" if close else ""
            raise ConfigError(f"--set {key}: unknown config key{hint}")
        set_key(cfg, key, yaml.safe_load(raw) if raw.strip() else None)
    return cfg


def load(path: str | Path, sets: list[str] | None = None) -> dict:
    """A preset (by name) or a YAML file, resolved with ``sets``."""
    path = config_file(path)
    try:
        base = yaml.safe_load(path.read_text("utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(base, dict):
        raise ConfigError(f"{path}: a config is a mapping of keys to values")
    return resolve(base, sets)


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def problems(cfg: dict) -> dict[str, str]:
    """Every refused option of ``cfg``: key → why (the message starts with the key), in the order
    ``validate`` checks them; empty when the config can train. The Train page shows each next to
    its field."""
    flat = flatten(cfg)
    out: dict[str, str] = {}

    def refuse(key: str, why: str) -> None:
        out.setdefault(key, why)

    for key, choices in CHOICES.items():
        if flat[key] not in choices:
            refuse(key, f"{key}={flat[key]!r}: use one of {', '.join(map(str, choices))}")
    for key in ("epochs", "batch_size", "model.input_size", "model.partial_stages"):
        if not isinstance(flat[key], int) or isinstance(flat[key], bool) or flat[key] < 1:
            refuse(key, f"{key}={flat[key]!r}: use a whole number of at least 1")
    for key in ("optimizer.lr", "schedule.min_lr", "ema.decay"):
        if not _number(flat[key]) or flat[key] <= 0:
            refuse(key, f"{key}={flat[key]!r}: use a positive number")
    if flat["optimizer.head_lr"] is not None and (not _number(flat["optimizer.head_lr"])
                                                  or flat["optimizer.head_lr"] <= 0):
        refuse("optimizer.head_lr", f"optimizer.head_lr={flat['optimizer.head_lr']!r}: use a positive number")
    for key in ("model.dropout", "loss.label_smoothing", "augment.brightness", "augment.contrast"):
        if not _number(flat[key]) or not 0 <= flat[key] < 1:
            refuse(key, f"{key}={flat[key]!r}: use a number from 0 up to (not including) 1")
    if not _number(flat["mixup.prob"]) or not 0 <= flat["mixup.prob"] <= 1:
        refuse("mixup.prob", f"mixup.prob={flat['mixup.prob']!r}: use a fraction from 0 to 1")
    for key in ("model.warmup_head_epochs", "schedule.warmup_epochs", "early_stopping.patience",
                "augment.randaugment_n", "augment.randaugment_m"):
        if not isinstance(flat[key], int) or flat[key] < 0:
            refuse(key, f"{key}={flat[key]!r}: use a whole number of at least 0")
    if isinstance(flat["augment.randaugment_m"], int) and not 0 <= flat["augment.randaugment_m"] <= 30:
        refuse("augment.randaugment_m", "augment.randaugment_m: use 0 to 30")
    lo_hi = flat["augment.crop_scale"]
    if not (isinstance(lo_hi, list) and len(lo_hi) == 2 and all(map(_number, lo_hi)) and 0 < lo_hi[0] <= lo_hi[1] <= 1):
        refuse("augment.crop_scale", f"augment.crop_scale={lo_hi!r}: use [low, high] with 0 < low <= high <= 1")
    for key, zero in (("optimizer.weight_decay", "0"), ("checkpoint.every_seconds", "0 (at epoch ends only)")):
        if not _number(flat[key]) or flat[key] < 0:
            refuse(key, f"{key}={flat[key]!r}: use {zero} or a positive number")
    if not _number(flat["mixup.alpha"]) or flat["mixup.alpha"] < 0:
        refuse("mixup.alpha", "mixup.alpha: use 0 (off) or a positive number")
    if not flat["dataset"]:
        refuse("dataset", "dataset: name a dataset of the store (--set dataset=NAME)")
    teachers = flat["distill.teachers"]
    if not isinstance(teachers, list) or not all(isinstance(t, str) and t for t in teachers):
        refuse("distill.teachers", f"distill.teachers={teachers!r}: a list of run ids or model names, e.g. [run1, run2]")
    if not _number(flat["distill.weight"]) or not 0 <= flat["distill.weight"] <= 1:
        refuse("distill.weight", f"distill.weight={flat['distill.weight']!r}: use a fraction from 0 to 1")
    if not _number(flat["distill.temperature"]) or flat["distill.temperature"] <= 0:
        refuse("distill.temperature", f"distill.temperature={flat['distill.temperature']!r}: use a positive number")
    if teachers and _number(flat["mixup.alpha"]) and flat["mixup.alpha"] > 0:
        refuse("distill.teachers", "distill.teachers with mixup.alpha > 0: mixup would mix the labels but not the "
               "teachers' targets; set mixup.alpha=0 to distill")
    if not isinstance(flat["tta.flip"], bool):
        refuse("tta.flip", f"tta.flip={flat['tta.flip']!r}: use true or false")
    if not isinstance(flat["eval_splits"], list) or not set(flat["eval_splits"]) <= set(SPLITS):
        refuse("eval_splits", "eval_splits: a list of train, val, test")
    return out


def validate(cfg: dict) -> dict:
    """Check every value before anything trains; ``ConfigError`` names the first problem."""
    found = problems(cfg)
    if found:
        raise ConfigError(next(iter(found.values())))
    return cfg


SPLITS = ("train", "val", "test")  # what eval_splits may name


# Labels that say more than the key's last part; the rest come from ``label``'s rule.
LABELS = {"name": "run name", "amp": "mixed precision (AMP)", "optimizer.lr": "learning rate",
          "optimizer.head_lr": "head learning rate", "schedule.min_lr": "final learning rate",
          "augment.hflip": "horizontal flip", "sampler.balanced": "balanced sampler",
          "mixup.alpha": "mixup alpha", "mixup.prob": "mixup share of batches", "ema.enabled": "EMA of the weights",
          "ema.decay": "EMA decay", "ema.warmup": "EMA warm-up", "early_stopping.patience": "early-stopping patience",
          "checkpoint.monitor": "best epoch by"}


def label(key: str) -> str:
    """A field's label on the Train page (unique over the schema): ``LABELS``, else the key's last
    part, with its section when another key ends the same way (``optimizer name``)."""
    if key in LABELS:
        return LABELS[key]
    last = key.split(".")[-1]
    clash = [k for k in SCHEMA if k.split(".")[-1] == last]
    return (key.replace(".", " ") if len(clash) > 1 else last).replace("_", " ")


def dump(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)
