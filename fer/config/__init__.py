"""The training config: one typed definition of every key (``fer.config.recipe``: its type,
default, meaning, label and range), read by the Train form, the sweeps' search space, the command
line and the trainer; presets and YAML files with ``--set`` overrides (``fer.config.files``).

``Recipe.from_config(cfg)`` is a config checked once, as typed fields mirroring the keys.
"""
from fer.config.files import (  # noqa: F401
    DESCRIPTION, PRESETS, config_file, defaults, description, dump, load, presets, resolve,
)
from fer.config.keys import Key, flatten, get_key, set_key  # noqa: F401
from fer.config.recipe import SPLITS, Recipe  # noqa: F401
from fer.config.schema import CHOICES, SCHEMA, ConfigError, label, problems, validate  # noqa: F401
