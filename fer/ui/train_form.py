"""The Train page's form: a preset (each with its one line and what it would cost here), every option
of the config with a label of its own, a refusal next to the option it concerns, and a review of
what the run will cost before the Train button.

``options(base, prefix)`` draws the fields and returns the config as set; ``problems(cfg)`` says
what is refused, per option; ``review(...)`` shows the estimate. Estimates are images × epochs ÷
the speed measured here for the backbone, input size and device (``fer.runs.measured_speeds``).
"""
from __future__ import annotations

import streamlit as st
import yaml

from fer import models, runs
from fer.store import Dataset, Run
from fer.training import config as C

SECTIONS = {"run": ("name", "seed", "epochs", "batch_size", "amp", "channels_last", "eval_splits"),
            "model": "model.", "optimizer": "optimizer.", "schedule": "schedule.",
            "loss and sampling": ("loss.", "sampler."), "augmentation": "augment.", "mixup and EMA": ("mixup.", "ema."),
            "stopping and checkpoints": ("early_stopping.", "checkpoint.")}
OPTIONAL_NUMBERS = ("optimizer.head_lr",)  # empty means "the default rule" (head_lr: the backbone's lr)


@st.cache_data(show_spinner=False, max_entries=16)
def _train_images(name: str, stamp: tuple) -> int:
    return runs.train_images(name)


def train_images(name: str) -> int:
    """Usable train images of a dataset, read again whenever its files or decisions change."""
    return _train_images(name, Dataset.open(name).stamp)


@st.cache_data(show_spinner=False, max_entries=4)
def _speeds(stamps: tuple) -> dict:
    return runs.measured_speeds()


def speeds() -> dict:
    """Measured training speeds, read again whenever a run records an epoch."""
    return _speeds(tuple(r.stamp for r in Run.list()))


def _keys(sel) -> list[str]:
    sel = (sel,) if isinstance(sel, str) else sel
    return [k for k in C.SCHEMA if k in sel or any(k.startswith(p) for p in sel if p.endswith("."))]


def _field(key: str, value, wkey: str):
    """One option's widget; returns its value as the config takes it (an unparsable text as it is,
    for ``problems`` to refuse)."""
    default, meaning = C.SCHEMA[key]
    label, help_text = C.label(key), f"`{key}`: {meaning}. Default: {default!r}."
    if key in C.CHOICES:
        options = list(C.CHOICES[key])
        return st.selectbox(label, options, index=options.index(value) if value in options else 0, help=help_text,
                            key=wkey)
    if key == "eval_splits":
        return st.multiselect(label, list(C.SPLITS), default=[s for s in value if s in C.SPLITS], help=help_text,
                              key=wkey)
    if key == "augment.crop_scale":
        lo, hi = (float(v) for v in value)
        return list(st.slider(label, 0.05, 1.0, (lo, hi), 0.05, help=help_text, key=wkey))
    if isinstance(default, bool):
        return st.checkbox(label, value=bool(value), help=help_text, key=wkey)
    if isinstance(default, int):
        return int(st.number_input(label, value=int(value), step=1, help=help_text, key=wkey))
    if isinstance(default, float):
        return float(st.number_input(label, value=float(value), format="%g", help=help_text, key=wkey))
    text = st.text_input(label, value="" if value is None else str(value), help=help_text, key=wkey).strip()
    if key in OPTIONAL_NUMBERS:
        try:
            return float(text) if text else None
        except ValueError:
            return text
    return text or None


def options(base: dict, prefix: str) -> tuple[dict, dict]:
    """Every option, grouped, starting from ``base``; returns the config as set and a place under
    each field for its refusal (key → ``st.empty``)."""
    cfg = C.resolve({})
    slots = {}
    for section, sel in SECTIONS.items():
        with st.expander(section, expanded=section == "run"):
            cols = st.columns(3)
            for i, key in enumerate(_keys(sel)):
                with cols[i % 3]:
                    C.set_key(cfg, key, _field(key, C.get_key(base, key), f"{prefix}:{key}"))
                    slots[key] = st.empty()
    return cfg, slots


def problems(cfg: dict) -> dict[str, str]:
    """What the config's own checks refuse, and a backbone nobody can build."""
    found = C.problems(cfg)
    backbone = C.get_key(cfg, "model.backbone")
    if not backbone or not models.known(str(backbone)):
        found.setdefault("model.backbone", f"model.backbone={backbone!r}: unknown; use a timm model name "
                                           "(resnet18, convnext_tiny, …), fer_cnn or facenet_vggface2")
    return found


def show_problems(found: dict[str, str], slots: dict) -> None:
    for key, why in found.items():
        if key in slots:
            slots[key].error(why)


def preset_label(name: str, preset: dict, dataset: str, device: str) -> str:
    """A preset in the select box: its name and what it would cost here as it stands."""
    est = runs.estimate(C.resolve(preset), train_images(dataset), device, speeds())
    return f"{name} · {runs.duration(est['seconds'])}"


def review(cfg: dict, dataset: str, device: str) -> dict:
    """What the run will cost, for the options as set: images, epochs, speed, duration."""
    est = runs.estimate(cfg, train_images(dataset), device, speeds())
    m = cfg["model"]
    c = st.columns(4)
    c[0].metric("images an epoch", f"{est['images'] // max(1, cfg['epochs']):,}")
    c[1].metric("epochs", cfg["epochs"])
    c[2].metric("speed", f"{est['images_per_s']:.0f} img/s" if est["images_per_s"] else "unknown")
    c[3].metric("estimated time", runs.duration(est["seconds"]))
    what = f"{m['backbone']} at {m['input_size']} px ({m['channels']} channel(s)) on {device}"
    if est["seconds"] is None:
        st.caption(f"Never measured here for {what}: the first run of it measures the speed for the next estimate.")
    else:
        st.caption(f"{est['images']:,} images ({cfg['epochs']} epochs) ÷ {est['images_per_s']:.0f} images/s, the "
                   f"speed of {what} measured by {est['basis']}; early stopping may end it sooner. Other work on "
                   "this machine slows it down.")
    return est


def config_text(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)
