"""Cached readers of datasets for the Dataset and Quality pages, and thumbnails. Each is keyed on
the dataset's version (``Dataset.stamp``: its files' sizes and times), so it cannot go stale."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from fer.data import align, dataset, quality, stats
from fer.images import to_rgb
from fer.labels import CLASSES
from fer.store import Dataset


def _stamp(name: str) -> tuple:
    return Dataset.open(name).stamp


@st.cache_data(show_spinner=False, max_entries=8)
def _manifest(name: str, stamp: tuple):
    return dataset.manifest(name)


@st.cache_data(show_spinner=False, max_entries=8)
def _pairs(name: str, stamp: tuple):
    return dataset.near_pairs(name)


def manifest(name: str):
    return _manifest(name, _stamp(name))


def pairs(name: str):
    return _pairs(name, _stamp(name))


@st.cache_data(show_spinner=False, max_entries=64)
def _flagged(name: str, stamp: tuple, view: str, threshold):
    return quality.flagged(_manifest(name, stamp), _pairs(name, stamp), view, threshold)


def flagged(name: str, view: str, threshold):
    return _flagged(name, _stamp(name), view, threshold)


@st.cache_data(show_spinner=False, max_entries=8)
def _overview(name: str, stamp: tuple):
    t = quality.Thresholds.from_dict(dataset.info(name).get("thresholds"))
    return quality.overview(_manifest(name, stamp), _pairs(name, stamp), t)


def overview(name: str):
    """Every check's count and share at the dataset's thresholds (``fer.data.quality.overview``)."""
    return _overview(name, _stamp(name))


@st.cache_data(show_spinner=False, max_entries=4096)
def _thumbnail(name: str, sources: tuple, path: str, side: int):
    try:
        img = dataset.load_image(dataset.info(name), path)
    except Exception:
        return None
    img.thumbnail((side, side))
    return to_rgb(img)


def thumbnail(name: str, path: str, side: int = 96):
    """A small RGB thumbnail of a dataset image (None when it cannot be read any more); keyed on
    the dataset's description, which a re-import with changed sources rewrites."""
    return _thumbnail(name, Dataset.open(name).stamp[1], path, side)


@st.cache_data(show_spinner=False, max_entries=8)
def _explore(name: str, stamp: tuple) -> dict:
    df = _manifest(name, stamp)
    ok = df[~df["q_corrupt"]]
    hist = {}
    for stat, hi in (("mean", 255.0), ("std", 128.0)):
        edges = np.linspace(0, hi, 52)
        for by in ("label_name", "source"):
            rows = []
            for value, part in ok.groupby(by):
                counts, _ = np.histogram(part[stat].to_numpy(np.float64), bins=edges)
                rows.append(pd.DataFrame({stat: (edges[:-1] + edges[1:]) / 2, "images": counts, by: value}))
            hist[(stat, by)] = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    sizes = (df["width"].astype(str) + "×" + df["height"].astype(str)).value_counts().head(8)
    return {
        "split": stats.distribution(df, "split"), "source": stats.distribution(df, "source"),
        "balance": stats.balance(df), "leakage": stats.leakage(df), "hist": hist,
        "sizes": pd.DataFrame({"size": sizes.index, "images": sizes.values}),
        "modes": df["mode"].value_counts().to_dict(),
    }


def explore(name: str) -> dict:
    """Every table the Dataset page shows for a dataset, computed once per manifest version."""
    return _explore(name, _stamp(name))


@st.cache_data(show_spinner=False, max_entries=32)
def _explore_figures(name: str, stamp: tuple, shares: bool, hist_by: str) -> dict:
    from fer.ui import charts

    x = _explore(name, stamp)
    out = {f"dist-{by}": charts.class_distribution(x[by], by, shares) for by in ("split", "source")}
    for stat, title in (("mean", "brightness (mean)"), ("std", "contrast (std)")):
        out[f"hist-{stat}"] = charts.histogram(x["hist"][(stat, hist_by)], stat, hist_by, title)
    return out


def explore_figures(name: str, shares: bool, hist_by: str) -> dict:
    """The Explore tab's figures, built once per manifest version and setting (plotly's figure
    building was most of the page's time)."""
    return _explore_figures(name, _stamp(name), shares, hist_by)


def manifest_csv(name: str):
    """A callable for a download button: the manifest as CSV, made when the button is clicked
    (tens of MB for a large dataset: not on every run of the page)."""
    return lambda: dataset.manifest(name).to_csv(index=False).encode()


def manifest_parquet(name: str):
    """A callable for a download button: the manifest file's bytes, read when it is clicked."""
    return lambda: Dataset.open(name).manifest_path.read_bytes()


def alignment_preview(name: str, seed: int, detector: str, margin: float) -> list[tuple[str, dict]]:
    """One image per class: (class, ``fer.data.align.preview`` of it)."""
    return _alignment_preview(name, _stamp(name), seed, detector, margin)


@st.cache_data(show_spinner="Finding faces…", max_entries=16)
def _alignment_preview(name: str, stamp: tuple, seed: int, detector: str, margin: float) -> list:
    df = _manifest(name, stamp)
    d = dataset.info(name)
    crops = align.crop_rows(d, df)
    out = []
    for cls in CLASSES:
        rows = df[(df["label_name"] == cls) & ~df["q_corrupt"]]
        if len(rows):
            r = rows.sample(1, random_state=seed)
            out.append((cls, align.preview(d, r["path"].iat[0], bool(crops[df.index.get_loc(r.index[0])]),
                                           detector, margin)))
    return out
