"""What a sweep searches: config keys of the training schema (the Train form's) with a distribution
each, written ``KEY=DIST:ARGS`` on the command line:

    optimizer.lr=loguniform:1e-4:1e-2     a float, log scale
    model.dropout=uniform:0:0.5           a float, linear scale
    augment.randaugment_n=int:0:3         a whole number
    model.transfer=choice:partial,full    one of the values listed (YAML scalars)

A key's kind comes from the schema: a float key takes ``uniform``, ``loguniform`` or ``choice``;
a whole-number key ``int`` or ``choice``; a key with a fixed set of values, a yes/no key or a text
key ``choice``. Every bound and every choice must itself pass the config's validation, so a range
that would make a trial refuse its config is refused before any trial runs.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import yaml

from fer import config as C

DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")


class SearchError(ValueError):
    """A search that cannot run: names the key or the range and what is wrong."""


def kind_of(key: str) -> str | None:
    """``float``, ``int``, ``categorical`` or None (not searchable), from the key's type in the
    config schema (a key that says what and where to train is not searched)."""
    k = C.SCHEMA.get(key)
    if k is None or not k.searchable or k.kind is list:
        return None
    if k.choices or k.kind in (bool, str):
        return "categorical"
    return "int" if k.kind is int else "float"


def allowed(key: str) -> tuple[str, ...]:
    return {"float": ("uniform", "loguniform", "choice"), "int": ("int", "choice"),
            "categorical": ("choice",)}.get(kind_of(key) or "", ())


def searchable() -> dict[str, dict]:
    """Every key a sweep can search: its kind, default, meaning, choices and a suggested range."""
    out = {}
    for key, k in C.SCHEMA.items():
        kind = kind_of(key)
        if kind:
            out[key] = {"kind": kind, "default": k.default, "meaning": k.meaning,
                        "choices": list(k.choices or ((False, True) if k.kind is bool else ())),
                        "range": suggested_range(key)}
    return out


def suggested_range(key: str) -> tuple | None:
    """A starting range for the Train page's sweep form (the user changes it): (low, high, log)."""
    kind, k = kind_of(key), C.SCHEMA[key]
    if kind == "float":
        if k.search:
            return (*k.search, k.log)
        if k.log:
            base = k.default or C.SCHEMA["optimizer.lr"].default
            return (base / 10, base * 10, True)
        return (0.0, 0.5, False) if (k.default or 0) < 1 else (k.default / 2, k.default * 2, False)
    if kind == "int":
        return (max(0, k.default - 2), k.default + 2, False)
    return None


@dataclass(frozen=True)
class Param:
    key: str
    dist: str  # uniform | loguniform | int | choice
    low: float | int | None = None
    high: float | int | None = None
    choices: tuple = ()

    def suggest(self, trial):
        """This parameter's value for an Optuna trial (TPE samples it)."""
        if self.dist == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high))
        if self.dist in ("uniform", "loguniform"):
            return trial.suggest_float(self.key, float(self.low), float(self.high), log=self.dist == "loguniform")
        return trial.suggest_categorical(self.key, list(self.choices))

    @property
    def text(self) -> str:
        """The ``KEY=DIST:ARGS`` form (what the job file and the study record keep)."""
        if self.dist == "choice":
            return f"{self.key}=choice:" + ",".join(yaml.safe_dump(c, default_flow_style=True).strip()
                                                     .removesuffix("...").strip() for c in self.choices)
        return f"{self.key}={self.dist}:{self.low!r}:{self.high!r}"


def _number(text: str, key: str, whole: bool):
    """A bound: a whole number, or (not for ``int``) any finite number such as ``1e-4``."""
    for convert in ((int,) if whole else (int, float)):
        try:
            value = convert(text.strip())
        except ValueError:
            continue
        if value == value and abs(value) != float("inf"):
            return value
    raise SearchError(f"--search {key}: {text!r} is not a {'whole number' if whole else 'number'}")


def parse(text: str) -> Param:
    """``KEY=DIST:ARGS`` as a parameter; ``SearchError`` naming the key (or the text) otherwise."""
    if not isinstance(text, str) or "=" not in text:
        raise SearchError(f"--search {text!r}: use KEY=DIST:ARGS, e.g. optimizer.lr=loguniform:1e-4:1e-2")
    key, spec = (part.strip() for part in text.split("=", 1))
    if key not in C.SCHEMA:
        raise SearchError(f"--search {key}: unknown config key; see the README's config keys")
    if not allowed(key):
        raise SearchError(f"--search {key}: this key is not searched (it says what and where to train)")
    dist, _, rest = spec.partition(":")
    if dist not in DISTRIBUTIONS:
        raise SearchError(f"--search {key}: unknown distribution {dist!r}; use {', '.join(DISTRIBUTIONS)}")
    if dist not in allowed(key):
        raise SearchError(f"--search {key}: {dist} does not fit a {kind_of(key)} key; use {', '.join(allowed(key))}")
    if dist == "choice":
        choices = tuple(yaml.safe_load(c) if c.strip() else None for c in rest.split(","))
        if len(choices) < 2 or len(set(map(repr, choices))) != len(choices):
            raise SearchError(f"--search {key}: choice needs two or more different values (choice:a,b)")
        return Param(key, dist, choices=choices)
    bounds = rest.split(":")
    if len(bounds) != 2:
        raise SearchError(f"--search {key}: {dist} needs a low and a high bound ({dist}:LOW:HIGH)")
    low, high = (_number(b, key, dist == "int") for b in bounds)
    if not low < high:
        raise SearchError(f"--search {key}: low {low!r} must be below high {high!r}")
    if dist == "loguniform" and low <= 0:
        raise SearchError(f"--search {key}: loguniform needs a low bound above 0 (got {low!r})")
    return Param(key, dist, low, high)


def check(texts: list[str], base: dict) -> list[Param]:
    """Parse every ``--search`` and try each bound and choice in ``base`` (a resolved config):
    every value a trial can draw must pass the config's validation."""
    if not texts:
        raise SearchError("give at least one --search KEY=DIST:ARGS")
    params = [parse(t) for t in texts]
    keys = [p.key for p in params]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise SearchError(f"--search {twice[0]}: searched twice")
    for p in params:
        for value in (p.choices if p.dist == "choice" else (p.low, p.high)):
            cfg = copy.deepcopy(base)
            C.set_key(cfg, p.key, value)
            try:
                C.validate(cfg)
            except C.ConfigError as e:
                raise SearchError(f"--search {p.key}: {value!r} is out of range ({e})") from None
        if p.key == "model.backbone":
            from fer import models  # timm's registry: only when backbones are searched

            unknown = [c for c in p.choices if not models.known(str(c))]
            if unknown:
                raise SearchError(f"--search model.backbone: unknown backbone {unknown[0]!r}")
    return params


def presets() -> dict[str, dict]:
    """The presets a sweep starts from (the Train page's)."""
    return C.presets()


def preset_config(preset_or_file: str, sets: list[str]) -> dict:
    """A preset or YAML file with ``key=value`` overrides, resolved (``ConfigError`` naming the key)."""
    return C.load(preset_or_file, sets)
