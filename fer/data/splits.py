"""Train / val / test for every dataset: official splits kept, missing ones carved, seeded.

Per source: rows with an official split keep it (``split_origin = official``); rows without one
get a seeded 80/10/10 split (``seeded``); a source that has a train split but no val (or no test)
has it carved from its train rows (``carved``). Carving is stratified by class and grouped by
subject when subjects are known, so one person never sits in two splits.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")


def _carve(labels: np.ndarray, groups: np.ndarray | None, fractions: list[float], seed: int) -> np.ndarray:
    """Assign each row to part 0 (the rest) or to parts 1..k of the given fractions.

    Without groups: per class, a seeded shuffle and rounded shares (at least one row per part
    when the class has more rows than there are parts). With groups: scikit-learn's
    StratifiedGroupKFold over 1/fraction folds, one fold per part (class-stratified, whole subjects).
    """
    n = len(labels)
    out = np.zeros(n, dtype=np.int8)
    rng = np.random.default_rng(seed)
    if groups is None:
        for c in np.unique(labels):
            rows = rng.permutation(np.flatnonzero(labels == c))
            start = 0
            for part, frac in enumerate(fractions, 1):
                k = int(round(len(rows) * frac))
                if k == 0 and len(rows) > len(fractions):  # a small class still reaches every split
                    k = 1
                out[rows[start:start + k]] = part
                start += k
        return out
    from sklearn.model_selection import StratifiedGroupKFold  # seconds to import: only when carving

    n_groups = len(np.unique(groups))
    n_splits = min(int(round(1 / min(fractions))), n_groups)
    if n_splits < len(fractions) + 1:
        warnings.warn(f"only {n_groups} subjects: too few to carve {len(fractions)} split(s) by subject; rows left in place")
        return out
    # StratifiedGroupKFold needs each class to appear; it warns when a class is rarer than the folds
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        folds = list(StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(
            np.zeros(n), labels, groups))
    for part, (_, test_idx) in enumerate(folds[: len(fractions)], 1):
        out[test_idx] = part
    return out


def assign(df: pd.DataFrame, seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.1) -> pd.DataFrame:
    """Fill ``split`` and ``split_origin`` for every row (``split`` may hold official splits)."""
    df = df.copy()
    df["split_origin"] = np.where(df["split"].notna(), "official", None)
    for k, (source, rows) in enumerate(df.groupby("source", sort=True).groups.items()):
        src = df.loc[rows]
        s = seed + k  # each source its own stream, stable under adding other sources after it
        # rows without an official split: seeded 80/10/10
        free = src.index[src["split"].isna()]
        if len(free):
            sub = df.loc[free]
            parts = _carve(sub["label"].to_numpy(), _groups(sub), [val_fraction, test_fraction], s)
            df.loc[free, "split"] = np.array(SPLITS, dtype=object)[parts]
            df.loc[free, "split_origin"] = "seeded"
        # a split the source lacks altogether: carved from its official train rows
        src = df.loc[rows]
        official_train = src.index[(src["split"] == "train") & (src["split_origin"] == "official")]
        missing = [(name, frac) for name, frac in (("val", val_fraction), ("test", test_fraction))
                   if not (src["split"] == name).any()]
        if missing and len(official_train):
            sub = df.loc[official_train]
            parts = _carve(sub["label"].to_numpy(), _groups(sub), [f for _, f in missing], s + 1000)
            for part, (name, _) in enumerate(missing, 1):
                chosen = official_train[parts == part]
                df.loc[chosen, "split"] = name
                df.loc[chosen, "split_origin"] = "carved"
    return df


def _groups(sub: pd.DataFrame) -> np.ndarray | None:
    """Subject ids, with each row of unknown subject its own group; None when none is known."""
    if "subject" not in sub or sub["subject"].isna().all():
        return None
    subj = sub["subject"].astype(object)
    return np.where(subj.isna(), ["_row%d" % i for i in range(len(sub))], subj.astype(str))
