"""The schema, read off the recipe: every key (``SCHEMA``: dotted name → ``Key``, in the config's
order) and the checks of a whole config (``problems``, ``validate``)."""
from __future__ import annotations

import types
import typing
from dataclasses import fields

from fer.config.keys import META, Key, flatten
from fer.config.recipe import Recipe


class ConfigError(ValueError):
    """A config that cannot train: the message names the key and what is wrong."""


def _kind(annotation) -> tuple[type, bool]:
    """(the value's type, whether None is allowed) of a field's annotation."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _kind(inner[0])[0], True
    if typing.get_origin(annotation) is tuple or annotation is tuple:
        return list, False
    return annotation, False


def _walk(cls, prefix: str = "") -> list[Key]:
    hints = typing.get_type_hints(cls)
    found = []
    for f in fields(cls):
        meta = f.metadata.get(META)
        if meta == "section":
            found += _walk(f.default_factory, f"{prefix}{f.name}.")
            continue
        kind, optional = _kind(hints[f.name])
        spec = {k: v for k, v in meta.items() if k != "default"}
        found.append(Key(name=f"{prefix}{f.name}", kind=kind, optional=optional or meta["default"] is None,
                         default=meta["default"], **{**spec, "label": spec["label"] or ""}))
    return found


def _labelled(keys: list[Key]) -> list[Key]:
    """Keys without a label of their own get the last part of their name, with its section when
    another key ends the same way (``optimizer name``)."""
    out = []
    for k in keys:
        if not k.label:
            last = k.name.split(".")[-1]
            clash = sum(1 for other in keys if other.name.split(".")[-1] == last) > 1
            k = Key(**{**vars(k), "label": (k.name.replace(".", " ") if clash else last).replace("_", " ")})
        out.append(k)
    return out


SCHEMA: dict[str, Key] = {k.name: k for k in _labelled(_walk(Recipe))}
CHOICES: dict[str, tuple] = {name: k.choices for name, k in SCHEMA.items() if k.choices}


def label(name: str) -> str:
    """A key's label on the Train page (unique over the schema)."""
    return SCHEMA[name].label


def problems(cfg: dict) -> dict[str, str]:
    """Every refused option of ``cfg`` (a resolved config): key → why (the message starts with
    the key), in the schema's order; empty when the config can train. The Train page shows each
    next to its field."""
    flat = flatten(cfg)
    out = {name: why for name, k in SCHEMA.items() if (why := k.problem(flat.get(name)))}
    if not flat.get("dataset"):
        out["dataset"] = "dataset: name a dataset of the store (--set dataset=NAME)"
    alpha = flat.get("mixup.alpha")
    if flat.get("distill.teachers") and "distill.teachers" not in out and "mixup.alpha" not in out and alpha > 0:
        out["distill.teachers"] = ("distill.teachers with mixup.alpha > 0: mixup would mix the labels but not the "
                                   "teachers' targets; set mixup.alpha=0 to distill")
    return {name: out[name] for name in SCHEMA if name in out}


def validate(cfg: dict) -> dict:
    """Check every value before anything trains; ``ConfigError`` names the first problem."""
    found = problems(cfg)
    if found:
        raise ConfigError(next(iter(found.values())))
    return cfg
