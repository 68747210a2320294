"""Configs as files: the presets shipped with the package (``fer/presets/*.yaml``;
``training/configs/`` in a checkout is the same folder), a YAML file, ``--set key=value``
overrides, and the resolved config a run keeps as ``config.yaml`` (``--config runs/<id>/config.yaml``
reruns it exactly). A config is a plain nested dict.
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

from fer.config.keys import flatten, set_key
from fer.config.schema import SCHEMA, ConfigError

PRESETS = Path(__file__).resolve().parents[1] / "presets"
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
    for name, k in SCHEMA.items():
        set_key(cfg, name, copy.deepcopy(k.default))
    return cfg


def resolve(base: dict | None = None, sets: list[str] | None = None) -> dict:
    """Defaults, then ``base`` (a preset), then ``key=value`` overrides; unknown keys refused."""
    cfg = defaults()
    base = {k: v for k, v in (base or {}).items() if k != DESCRIPTION}
    for name, value in flatten(base).items():
        if name not in SCHEMA:
            raise ConfigError(f"unknown config key {name!r}; see the README for the keys")
        set_key(cfg, name, value)
    for item in sets or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: use key=value, e.g. --set epochs=30")
        name, raw = item.split("=", 1)
        name = name.strip()
        if name not in SCHEMA:
            close = [k for k in SCHEMA if k.endswith("." + name) or name in k]
            hint = f" (did you mean {', '.join(close[:3])}?)" if close else ""
            raise ConfigError(f"--set {name}: unknown config key{hint}")
        set_key(cfg, name, yaml.safe_load(raw) if raw.strip() else None)
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


def dump(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)
