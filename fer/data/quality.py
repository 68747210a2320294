"""Quality checks: flags from stored statistics, exact and perceptual duplicate groups.

Everything here works from the manifest's columns and the stored near-duplicate candidate
pairs, so moving a threshold re-flags a dataset in milliseconds without touching an image.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

SPLIT_ORDER = {"train": 0, "val": 1, "test": 2}
CHECKS = (
    "q_corrupt", "q_low_variance", "q_dark", "q_bright", "q_tiny", "q_duplicate",
    "q_near_duplicate", "q_cross_split_duplicate", "q_label_conflict",
)


@dataclass
class Thresholds:
    low_variance_std: float = 5.0  # std below this: blank or nearly so
    dark_mean: float = 30.0  # mean below this: too dark
    bright_mean: float = 225.0  # mean above this: too bright
    tiny_side: int = 32  # shortest side below this, in pixels
    near_duplicate_distance: int = 4  # Hamming distance of perceptual hashes, at most
    # candidate pairs are stored up to this distance, the near-duplicate slider's range
    candidate_distance: int = 8

    @classmethod
    def from_dict(cls, d: dict | None) -> "Thresholds":
        known = {k: v for k, v in (d or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_dict(self) -> dict:
        return asdict(self)


# -- perceptual near-duplicate candidates ---------------------------------------------------

def _popcount64(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


def near_pairs(phash: pd.Series, max_distance: int) -> pd.DataFrame:
    """All row pairs (a < b) whose 64-bit hashes (a nullable UInt64 column) are within
    ``max_distance`` bits: columns a, b (row positions), distance.

    Multi-index search: split the 64 bits into ``max_distance + 1`` blocks; two hashes within
    the distance agree exactly on at least one block (pigeonhole), so only hashes sharing a block
    value are compared.
    """
    valid = phash.notna().to_numpy()
    idx = np.flatnonzero(valid)
    h = phash[valid].to_numpy(np.uint64)
    n_blocks = max_distance + 1
    bounds = np.linspace(0, 64, n_blocks + 1).astype(int)
    found = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        key = (h >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
        order = np.argsort(key, kind="stable")
        sk = key[order]
        starts = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]])
        ends = np.r_[starts[1:], len(sk)]
        for s, e in zip(starts, ends):
            if e - s < 2:
                continue
            members = order[s:e]
            hm = h[members]
            d = _popcount64(hm[:, None] ^ hm[None, :])
            i, j = np.nonzero(np.triu(d <= max_distance, k=1))
            if len(i):
                found.append(np.stack([members[i], members[j], d[i, j]], axis=1))
    if not found:
        return pd.DataFrame({"a": np.array([], np.int64), "b": np.array([], np.int64),
                             "distance": np.array([], np.uint8)})
    pairs = np.concatenate(found)
    a, b = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    code = np.unique(a.astype(np.int64) * len(h) + b)
    a, b = code // len(h), code % len(h)
    dist = _popcount64(h[a] ^ h[b]).astype(np.uint8)
    return pd.DataFrame({"a": idx[a].astype(np.int64), "b": idx[b].astype(np.int64), "distance": dist})


# -- groups and flags -----------------------------------------------------------------------

def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix  # scipy: only when groups are formed
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a), bool), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _group_ids(labels: np.ndarray, valid: np.ndarray) -> pd.Series:
    """Number the groups with more than one valid member 0, 1, ... in row order; others null."""
    s = pd.Series(np.where(valid, labels, -1))
    sizes = s.map(s[s >= 0].value_counts())
    grouped = valid & (sizes.fillna(0).to_numpy() > 1)
    out = pd.Series(pd.NA, index=s.index, dtype="Int64")
    codes, _ = pd.factorize(s[grouped], sort=False)
    out[grouped] = codes
    return out


def _all_but_first(df: pd.DataFrame, group_col: str) -> np.ndarray:
    """True on every member of a group but the one kept: first by train < val < test, then path."""
    g = df[group_col]
    member = g.notna().to_numpy()
    if not member.any():
        return np.zeros(len(df), bool)
    sub = pd.DataFrame({"g": g[member].astype(np.int64), "s": df["split"][member].map(SPLIT_ORDER).fillna(9),
                        "p": df["path"][member]})
    first = sub.sort_values(["g", "s", "p"]).drop_duplicates("g").index
    flag = pd.Series(member, index=df.index)
    flag[first] = False
    return flag.to_numpy()


def _spans(df: pd.DataFrame, group_col: str, col: str) -> np.ndarray:
    g = df[group_col]
    member = g.notna()
    n = df.loc[member].groupby(g[member].astype(np.int64))[col].nunique()
    return (member & g.map(n).fillna(0).gt(1)).to_numpy(bool)


def apply(df: pd.DataFrame, pairs: pd.DataFrame, t: Thresholds) -> pd.DataFrame:
    """Recompute groups and every ``q_*`` flag (but ``q_no_face``) from statistics and pairs."""
    df = df.copy()
    ok = df["error"].isna().to_numpy()
    df["q_corrupt"] = ~ok
    df["q_low_variance"] = ok & (df["std"] < t.low_variance_std).to_numpy()
    df["q_dark"] = ok & (df["mean"] < t.dark_mean).to_numpy()
    df["q_bright"] = ok & (df["mean"] > t.bright_mean).to_numpy()
    df["q_tiny"] = ok & (np.minimum(df["width"], df["height"]) < t.tiny_side).to_numpy()

    # byte-identical groups: the same sha1 (corrupt files are not images and form no group)
    sha_codes, _ = pd.factorize(df["sha1"].fillna(""))
    df["dup_group"] = _group_ids(sha_codes, ok)
    df["q_duplicate"] = _all_but_first(df, "dup_group")
    df["q_cross_split_duplicate"] = _spans(df, "dup_group", "split")
    df["q_label_conflict"] = _spans(df, "dup_group", "label")

    close = pairs[pairs["distance"] <= t.near_duplicate_distance]
    comp = _components(len(df), close["a"].to_numpy(), close["b"].to_numpy())
    df["near_dup_group"] = _group_ids(comp, ok)
    df["q_near_duplicate"] = _all_but_first(df, "near_dup_group")
    return df


def counts(df: pd.DataFrame) -> dict[str, int]:
    """How many rows each check flags (checks present in the frame only)."""
    cols = [c for c in df.columns if c.startswith("q_")]
    return {c: int(df[c].sum()) for c in cols}


# -- one check at a time, for the Quality page -------------------------------------------------

# view → (threshold key of Thresholds or None, slider range, how the worst come first)
VIEWS: dict[str, tuple[str | None, tuple[float, float] | None]] = {
    "corrupt": (None, None),
    "low variance / blank": ("low_variance_std", (0.0, 40.0)),
    "too dark": ("dark_mean", (0.0, 128.0)),
    "too bright": ("bright_mean", (128.0, 255.0)),
    "tiny": ("tiny_side", (4.0, 256.0)),
    "no face": (None, None),
    "exact duplicates": (None, None),
    "near duplicates": ("near_duplicate_distance", (0.0, 8.0)),
    "duplicates across splits": (None, None),
    "conflicting labels": (None, None),
}
GROUP_VIEWS = ("exact duplicates", "near duplicates", "duplicates across splits", "conflicting labels")


def flagged(df: pd.DataFrame, pairs: pd.DataFrame, view: str, threshold: float | None = None) -> pd.DataFrame:
    """The rows a check flags at ``threshold`` (the stored default when None), worst first. Group
    views return every member of every flagged group, with a ``group`` column, largest groups
    first; nothing is rescanned: statistics and candidate pairs come from the import."""
    key, _ = VIEWS[view]
    ok = df["error"].isna()
    if view == "corrupt":
        return df[df["q_corrupt"]]
    if view == "no face":
        return df[df["q_no_face"]]
    if view == "low variance / blank":
        return df[ok & (df["std"] < threshold)].sort_values("std")
    if view == "too dark":
        return df[ok & (df["mean"] < threshold)].sort_values("mean")
    if view == "too bright":
        return df[ok & (df["mean"] > threshold)].sort_values("mean", ascending=False)
    if view == "tiny":
        sel = df[ok & (np.minimum(df["width"], df["height"]) < threshold)]
        return sel.iloc[np.argsort(np.minimum(sel["width"], sel["height"]).to_numpy(), kind="stable")]
    if view == "near duplicates":
        close = pairs[pairs["distance"] <= int(threshold)]
        comp = _components(len(df), close["a"].to_numpy(), close["b"].to_numpy())
        group = _group_ids(comp, ok.to_numpy())
    else:
        group = df["dup_group"]
    out = df.assign(group=group)[group.notna()]
    if view == "duplicates across splits":
        out = out[out["q_cross_split_duplicate"]]
    elif view == "conflicting labels":
        out = out[out["q_label_conflict"]]
    size = out.groupby("group")["path"].transform("size")
    order = out["split"].map(SPLIT_ORDER).fillna(9)
    return out.assign(_size=size, _order=order).sort_values(["_size", "group", "_order", "path"],
                                                           ascending=[False, True, True, True]).drop(
        columns=["_size", "_order"])


def overview(df: pd.DataFrame, pairs: pd.DataFrame, t: Thresholds) -> pd.DataFrame:
    """One row per check at the dataset's thresholds: the images it flags, their share of the
    dataset, and for group views the number of groups (what the Quality page opens with)."""
    rows = []
    for view, (key, _) in VIEWS.items():
        flagged_rows = flagged(df, pairs, view, getattr(t, key) if key else None)
        rows.append({"check": view, "images": len(flagged_rows), "share": len(flagged_rows) / max(len(df), 1),
                     "groups": flagged_rows["group"].nunique() if view in GROUP_VIEWS else None})
    return pd.DataFrame(rows)
