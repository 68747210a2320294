"""One config key, described once: its type (from the recipe's annotation), default, meaning,
label and the values it takes. Everything else is derived from it: the validation and its
messages, the Train form's fields, what a sweep may search and on which scale, the README's table.

A key is declared as a field of a recipe section (``fer.config.recipe``) with :func:`key`; the
``Key`` record is built from that field. ``Key.problem(value)`` says in one line, starting with
the key, why a value is refused (None when it is fine).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

META = "fer.config"  # where a field's description lives in its metadata


@dataclass(frozen=True)
class Key:
    name: str  # dotted: model.dropout
    kind: type  # bool, int, float, str or list (the annotation's, without None)
    default: Any
    meaning: str
    label: str  # the Train form's label, unique over the schema
    optional: bool = False  # None is a value of its own ("not set")
    choices: tuple = ()  # the only values it takes
    low: float | None = None  # lowest value, included unless low_open
    high: float | None = None  # highest value, included unless high_open
    low_open: bool = False
    high_open: bool = False
    zero: str = ""  # what 0 means, when low is 0 ("off", "at epoch ends only")
    check: Callable[[Any], str | None] | None = None  # a list's own rule: what to use, or None
    searchable: bool = True  # a sweep may search it (not what and where to train)
    log: bool = False  # a sweep searches it on a log scale by default
    search: tuple | None = None  # a sweep's suggested (low, high), when the rule below does not fit

    @property
    def section(self) -> str:
        """``model`` for ``model.dropout``; ``""`` for a top-level key."""
        return self.name.rpartition(".")[0]

    def rule(self) -> str:
        """What a value must be, as the refusal says it ("use a whole number of at least 1")."""
        if self.choices:
            return f"use one of {', '.join(map(str, self.choices))}"
        if self.kind is bool:
            return "use true or false"
        if self.kind is int:
            if self.high is not None:
                return f"use a whole number from {self.low:g} to {self.high:g}"
            return f"use a whole number of at least {self.low:g}" if self.low is not None else "use a whole number"
        if self.kind is float:
            if (self.low, self.low_open, self.high) == (0, True, None):
                return "use a positive number"
            if (self.low, self.high) == (0, 1):
                return "use a number from 0 up to (not including) 1" if self.high_open else "use a fraction from 0 to 1"
            if (self.low, self.low_open, self.high) == (0, False, None):
                return f"use 0{f' ({self.zero})' if self.zero else ''} or a positive number"
            return "use a number"
        return "use a name" if self.kind is str else "see the README"

    def problem(self, value) -> str | None:
        """Why ``value`` is refused for this key (one line starting with the key), or None."""
        if value is None and self.optional:
            return None
        if self.check is not None:
            why = self.check(value)
            return f"{self.name}={value!r}: {why}" if why else None
        if not self._fits(value):
            return f"{self.name}={value!r}: {self.rule()}"
        return None

    def _fits(self, value) -> bool:
        if isinstance(value, bool) != (self.kind is bool):  # True is an int to Python, not to a config
            return False
        if self.choices:
            return value in self.choices and isinstance(value, self.kind)
        if self.kind in (bool, str):
            return isinstance(value, self.kind) and value != ""
        if not isinstance(value, int if self.kind is int else (int, float)):
            return False
        if value != value:  # NaN
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or (value < self.high or (not self.high_open and value == self.high))


def key(default, meaning: str, *, label: str = "", choices: tuple = (), low: float | None = None,
        high: float | None = None, low_open: bool = False, high_open: bool = False, zero: str = "",
        check: Callable[[Any], str | None] | None = None, searchable: bool = True, log: bool = False,
        search: tuple | None = None):
    """A recipe field that is a config key: its default and everything said about it."""
    spec = {"meaning": meaning, "label": label, "choices": tuple(choices), "low": low, "high": high,
            "low_open": low_open, "high_open": high_open, "zero": zero, "check": check, "searchable": searchable,
            "log": log, "search": search}
    if isinstance(default, (list, tuple)):  # a list value: each recipe gets its own tuple
        frozen = tuple(default)
        return field(default_factory=lambda: frozen, metadata={META: {**spec, "default": list(default)}})
    return field(default=default, metadata={META: {**spec, "default": default}})


def section(cls: type):
    """A recipe field that is a section of keys (``model``, ``optimizer`` …), of dataclass ``cls``."""
    return field(default_factory=cls, metadata={META: "section"})


def set_key(cfg: dict, dotted: str, value) -> None:
    """``cfg[a][b] = value`` for ``a.b``, making the sections on the way."""
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
    """A nested config as ``{dotted key: value}``."""
    out = {}
    for k, v in cfg.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, name + "."))
        else:
            out[name] = v
    return out
