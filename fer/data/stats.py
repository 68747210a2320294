"""Statistics of datasets for the Dataset page: classes by split or source, class balance and
the sampler's weights, duplicates and leakage, and the disk each dataset uses."""
from __future__ import annotations

import numpy as np
import pandas as pd

from fer import store
from fer.labels import CLASSES, NUM_CLASSES
from fer.store import Dataset


def class_weights(labels: np.ndarray) -> np.ndarray:
    """N / (C · N_c) per class (0 for a class that does not occur): the balanced sampler's weights."""
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(np.float64)
    w = np.zeros(NUM_CLASSES)
    present = counts > 0
    w[present] = len(labels) / (present.sum() * counts[present])
    return w


def distribution(df: pd.DataFrame, by: str) -> pd.DataFrame:
    """Images per class and ``by`` (split or source), with shares within each column."""
    t = pd.crosstab(df["label_name"], df[by]).reindex(list(CLASSES), fill_value=0)
    return t


def balance(df: pd.DataFrame) -> dict:
    train = df[(df["split"] == "train") & ~df["q_corrupt"]]
    counts = np.bincount(train["label"].to_numpy(), minlength=NUM_CLASSES)
    present = counts[counts > 0]
    return {"imbalance_ratio": float(present.max() / present.min()) if len(present) else None,
            "weights": dict(zip(CLASSES, class_weights(train["label"].to_numpy()).round(3)))}


def leakage(df: pd.DataFrame) -> dict:
    g = df["dup_group"]
    return {"groups": int(g.nunique()), "files": int(g.notna().sum()),
            "groups_across_splits": int(df.loc[df["q_cross_split_duplicate"], "dup_group"].nunique()),
            "groups_with_conflicting_labels": int(df.loc[df["q_label_conflict"], "dup_group"].nunique()),
            "near_groups": int(df["near_dup_group"].nunique())}


def disk_use() -> pd.DataFrame:
    """MiB per dataset of the store."""
    return pd.DataFrame([{"dataset": d.name, "MiB": store.disk_usage(d.folder) / 2**20} for d in Dataset.list()])
