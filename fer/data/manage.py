"""Datasets as a user manages them: preview a mapping, uploads, import as a job, rename, delete,
re-import, statistics for the pages."""
from __future__ import annotations

import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from fer import jobs, settings, store
from fer.data import archive, dataset
from fer.data.formats import FORMATS, detect
from fer.data.sources import SourceError, SourceFiles
from fer.labels import CLASSES, NUM_CLASSES, LabelMapper, parse_mapping


def preview(sources: list[dataset.SourceSpec], mapping: list[str] | None = None) -> dict:
    """What an import would bring in, without decoding an image: per source its format and the
    images per canonical class, and the labels that would be dropped. Uses the same adapters and
    mapper as the import."""
    mapper = LabelMapper(user=parse_mapping(mapping))
    per_source, formats = {}, {}
    for spec in sources:
        files = SourceFiles(spec.location)
        fmt = spec.format or detect(files, mapper)
        counts = Counter(r.label for r in FORMATS[fmt].read(files, mapper))
        per_source[files.label] = {c: counts.get(i, 0) for i, c in enumerate(CLASSES)}
        formats[files.label] = fmt
    table = pd.DataFrame(per_source).reindex(list(CLASSES)).fillna(0).astype(int)
    return {"formats": formats, "counts": table, "dropped": dict(mapper.dropped.most_common())}


def check_folder(path: str) -> Path:
    """A server folder the app may import from (inside the import roots of the settings)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise SourceError(f"{path}: no such file or folder")
    if not settings.within_import_roots(p):
        roots = ", ".join(settings.load().import_roots)
        raise SourceError(f"{path} is outside the import roots ({roots}); add its folder to the settings first")
    return p.resolve()


def save_upload(name: str, filename: str, data: bytes) -> Path:
    """Keep an uploaded zip under ``datasets/<name>/sources/`` after judging it whole as an
    import does (``fer.data.archive.judge``: member names, count, compression ratio)."""
    store.check_name(name)
    archive.judge(data, filename)
    safe = Path(filename).name or "upload.zip"
    return store.write_bytes(store.dataset_dir(name) / "sources" / safe, data)


def launch_import(sources: list[dataset.SourceSpec], name: str, mapping: list[str] | None = None,
                  align: bool = False, replace: bool = False) -> Path:
    """Queue ``python -m fer dataset import`` as a job; returns the job folder."""
    store.check_name(name)
    parse_mapping(mapping)  # a bad mapping is refused now, not in the job's log
    if (store.dataset_dir(name) / "dataset.json").exists() and not replace:
        raise dataset.DatasetError(f"dataset {name!r} exists already; choose another name or replace it")
    folder = store.jobs_dir() / jobs.new_id()
    cmd = [sys.executable, "-m", "fer", "dataset", "import",
           *[f"{s.location}={s.format}" if s.format else s.location for s in sources],
           "--name", name, "--job", str(folder), *sum((["--map", m] for m in mapping or []), [])]
    cmd += ["--align"] if align else []
    cmd += ["--replace"] if replace else []
    return jobs.submit(folder, cmd, kind="import")


def launch_align(name: str, detector: str = "mtcnn", size: int | None = None) -> Path:
    dataset.info(name)
    folder = store.jobs_dir() / jobs.new_id()
    cmd = [sys.executable, "-m", "fer", "dataset", "align", name, "--detector", detector, "--job", str(folder)]
    cmd += ["--size", str(size)] if size else []
    return jobs.submit(folder, cmd, kind="align")


def rename(old: str, new: str) -> Path:
    src, dst = store.dataset_dir(old), store.dataset_dir(new)
    dataset.info(old)
    if dst.exists():
        raise dataset.DatasetError(f"dataset {new!r} exists already")
    src.rename(dst)
    info = store.read_json(dst / "dataset.json")
    info["name"] = new
    for s in info["sources"].values():  # uploads kept inside the folder moved with it
        if s["location"].startswith(str(src) + "/"):
            s["location"] = str(dst) + s["location"][len(str(src)):]
    store.write_json(dst / "dataset.json", info)
    return dst


def delete(name: str) -> None:
    f = store.dataset_dir(name)
    dataset.info(name)
    trash = f.with_name(f".{name}.deleting-{time.time_ns()}")
    f.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)


def reimport(name: str) -> Path:
    """The same sources, formats, mapping and seed again (files changed on disk), as a job."""
    info = dataset.info(name)
    specs = [dataset.SourceSpec(s["location"], s["format"]) for s in info["sources"].values()]
    mapping = [f"{k}={v}" for k, v in info.get("label_map", {}).items()]
    return launch_import(specs, name, mapping, replace=True)


def disk_use() -> pd.DataFrame:
    rows = [{"dataset": n, "MiB": store.disk_usage(store.dataset_dir(n)) / 2**20} for n in dataset.names()]
    return pd.DataFrame(rows)


# -- statistics for the Dataset page ----------------------------------------------------------

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
