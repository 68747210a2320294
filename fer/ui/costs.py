"""What a training will cost, on the Train page: images an epoch × epochs ÷ the speed measured here
for its backbone, input size and device (``fer.runs``), with cached readers keyed on the files they
read (a new epoch of any run, a decision on the dataset)."""
from __future__ import annotations

import streamlit as st

from fer import runs
from fer.store import Dataset, Run


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


def cost(cfg: dict, dataset: str, device: str) -> str:
    """``about 5 min`` (or ``unknown``) for a resolved config on a dataset and a kind of device."""
    return runs.duration(runs.estimate(cfg, train_images(dataset), device, speeds())["seconds"])


def review(cfg: dict, dataset: str, device: str) -> dict:
    """What the run will cost, for the options as set: images, epochs, speed, duration. The
    duration has a column of its own, wide enough for ``about 1 h 38 min`` at 1280 px."""
    est = runs.estimate(cfg, train_images(dataset), device, speeds())
    m = cfg["model"]
    c = st.columns([1, 1, 1, 2])
    c[0].metric("images an epoch", f"{est['images'] // max(1, cfg['epochs']):,}")
    c[1].metric("epochs", cfg["epochs"])
    c[2].metric("speed", f"{est['images_per_s']:.0f} img/s" if est["images_per_s"] else "unknown")
    c[3].metric("estimated time (a guess)" if est["guess"] else "estimated time", runs.duration(est["seconds"]))
    what = (f"{m['backbone']} at {m['input_size']} px ({m['channels']} channel(s)), batch {cfg['batch_size']}, on "
            f"{device}")
    if est["seconds"] is None:
        st.caption(f"Never measured here for {what}: the first run of it measures the speed for the next estimate.")
    else:
        st.caption(f"{est['images']:,} images ({cfg['epochs']} epochs) ÷ {est['images_per_s']:.0f} images/s, the "
                   f"speed of {what}: {est['basis']}. Early stopping may end it sooner; other work on this machine "
                   "slows it down.")
    return est
