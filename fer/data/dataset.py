"""Datasets of the store: import sources into a manifest, list them, read them back.

``import_dataset`` is the one entry point the CLI and the Dataset page share. It lists every
source with its adapter, scans the images in parallel, assigns splits, finds duplicates and
writes ``manifest.parquet``, ``near_pairs.parquet`` and ``dataset.json`` into a fresh folder
that is moved into place only when complete.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image

import fer
from fer import store
from fer.store import Dataset, NotFound
from fer.data import quality, splits
from fer.data.formats import FORMATS, READY_48_GRAY, Record, detect
from fer.data.scan import csv_pixels, fer_pixels, scan
from fer.data.sources import Limits, SourceError, SourceFiles, read_member
from fer.images import MAX_PIXELS, open_image
from fer.labels import CLASSES, LabelMapper, parse_mapping

COLUMNS = [
    "path", "source", "label", "label_name", "raw_label", "split", "split_origin", "subject",
    "width", "height", "mode", "mean", "std", "sha1", "phash", "dup_group", "near_dup_group",
    *quality.CHECKS, "error",
]

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class DatasetError(ValueError):
    """A dataset operation that cannot be done: one line a user can act on."""


@dataclass
class SourceSpec:
    location: str
    format: str | None = None

    @classmethod
    def parse(cls, text: str) -> "SourceSpec":
        """``path`` or ``path=FORMAT`` (the last ``=`` followed by a known format splits)."""
        if "=" in text:
            loc, fmt = text.rsplit("=", 1)
            if fmt in FORMATS:
                return cls(loc, fmt)
            if not Path(text).exists():
                raise DatasetError(f"unknown format {fmt!r} in {text!r}; formats: {', '.join(FORMATS)}")
        return cls(text)


@dataclass
class ImportResult:
    name: str
    folder: Path
    manifest: pd.DataFrame
    info: dict
    seconds: dict = field(default_factory=dict)


def _source_id(files: SourceFiles, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(files.label).stem).strip("-.") or "source"
    sid, k = base, 2
    while sid in taken:
        sid, k = f"{base}-{k}", k + 1
    return sid


def _stage(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress:
        progress(stage, done, total)


def import_dataset(
    sources: list[SourceSpec | str],
    name: str,
    mapping: list[str] | dict | None = None,
    seed: int = 0,
    thresholds: quality.Thresholds | None = None,
    max_pixels: int = MAX_PIXELS,
    replace: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
) -> ImportResult:
    """Import one or more sources into ``datasets/<name>/``. Raises ``DatasetError`` or
    ``SourceError`` (with a one-line reason) before anything is written."""
    store.check_name(name, "dataset name")
    target = Dataset(name).folder
    if Dataset.exists(name) and not replace:
        raise DatasetError(f"dataset {name!r} exists already ({target}); choose another name or replace it")
    if not sources:
        raise DatasetError("no source given")
    thresholds = thresholds or quality.Thresholds()
    user_map = mapping if isinstance(mapping, dict) else parse_mapping(mapping)
    mapper = LabelMapper(user=user_map)
    t0 = time.perf_counter()

    # 1. list every source with its adapter (decodes nothing)
    specs = [s if isinstance(s, SourceSpec) else SourceSpec.parse(s) for s in sources]
    opened, frames, info_sources = [], [], {}
    for spec in specs:
        files = SourceFiles(spec.location)
        fmt = spec.format or detect(files, mapper)
        sid = _source_id(files, set(info_sources))
        records: list[Record] = list(FORMATS[fmt].read(files, mapper))
        info_sources[sid] = {"location": str(files.location), "kind": files.kind, "format": fmt,
                             "sha256": files.sha256(), "rows": len(records)}
        opened.append((sid, files, records))
        frames.append(pd.DataFrame({
            "path": [f"{sid}:{r.inner}" for r in records],
            "source": sid,
            "label": np.array([r.label for r in records], dtype=np.int8),
            "raw_label": [r.raw_label for r in records],
            "split": pd.Series([r.split for r in records], dtype=object),
            "subject": pd.Series([r.subject for r in records], dtype=object),
        }))
    df = pd.concat(frames, ignore_index=True)
    if df.empty:
        dropped = ", ".join(f"{k} ({v})" for k, v in mapper.dropped.most_common(5)) or "nothing"
        raise DatasetError(f"no labelled image found in the sources (dropped: {dropped}); "
                           "check the format, or map labels with --map SOURCE=CLASS")
    t_list = time.perf_counter()

    # 2. scan: decode, statistics and hashes, on every core
    total, done, rows = len(df), 0, []
    _stage(progress, "scan", 0, total)
    jobs = [(*files.spec(), [r.inner for r in records]) for _, files, records in opened]
    for chunk in scan(jobs, max_pixels=max_pixels, workers=workers):
        rows.extend(chunk)
        done += len(chunk)
        _stage(progress, "scan", done, total)
    stats = pd.DataFrame.from_records(rows)
    df["width"] = stats["width"].astype("Int32")
    df["height"] = stats["height"].astype("Int32")
    df["mode"] = stats["mode"].astype(object)
    df["mean"] = stats["mean"].astype("float32")
    df["std"] = stats["std"].astype("float32")
    df["sha1"] = stats["sha1"].astype(object)
    # from the rows, not the frame: a corrupt row's None would make that column float64, which rounds
    # 64-bit hashes (near-duplicate distances then come out wrong)
    df["phash"] = pd.array([None if r.get("phash") is None else int(r["phash"]) for r in rows], dtype="UInt64")
    df["error"] = stats["error"].astype(object)
    t_scan = time.perf_counter()

    # 3. near-duplicate candidates, splits, groups and flags
    _stage(progress, "duplicates", 0, 1)
    pairs = quality.near_pairs(df["phash"], thresholds.candidate_distance)
    t_pairs = time.perf_counter()
    df["label_name"] = np.array(CLASSES, dtype=object)[df["label"].to_numpy()]
    df = splits.assign(df, seed=seed)
    df["q_no_face"] = False  # set by face alignment; false until then
    df = quality.apply(df, pairs, thresholds)
    df = df[COLUMNS + ["q_no_face"]]
    _stage(progress, "duplicates", 1, 1)

    # 4. write into a fresh folder, then move it into place
    info = {
        "name": name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "fer_version": fer.__version__,
        "sources": info_sources,
        "label_map": {k: (CLASSES[v] if v is not None else "drop") for k, v in user_map.items()},
        "dropped": dict(mapper.dropped.most_common()),
        "rows": len(df),
        "splits": {sp: int((df["split"] == sp).sum()) for sp in splits.SPLITS},
        "classes": {c: int((df["label_name"] == c).sum()) for c in CLASSES},
        "checks": quality.counts(df),
        "thresholds": thresholds.to_dict(),
        "max_pixels": max_pixels,
        "split": {"seed": seed, "val_fraction": 0.1, "test_fraction": 0.1},
        # crops made by the dataset's authors need no detection; None: faces still to align
        "crop": _ready_made_crop(info_sources, df),
    }
    tmp = store.new_folder_beside(target, "importing")
    try:
        built = Dataset(tmp.name)  # the same layout, in the hidden folder
        store.write_parquet(tmp / built.manifest_path.name, df)
        store.write_parquet(tmp / built.near_pairs_path.name, pairs)
        store.write_json(tmp / built.info_path.name, info)
        # an old dataset (and its decisions and uploads) is replaced only once the new one is complete
        store.replace_folder(tmp, target, carry=store.layout.USER_FILES)
    except BaseException:
        store.remove_folder(tmp)
        raise
    t_end = time.perf_counter()
    seconds = {"list": t_list - t0, "scan": t_scan - t_list, "near_duplicates": t_pairs - t_scan,
               "splits_and_write": t_end - t_pairs, "total": t_end - t0}
    return ImportResult(name, target, df, info, seconds)


def _ready_made_crop(sources: dict, df: pd.DataFrame) -> dict | None:
    """The crop block when every source holds ready-made crops of one kind (FER2013, CK+48)."""
    blocks = []
    for sid, src in sources.items():
        block = FORMATS[src["format"]].ready_made
        if block is None and src["format"] == "ckplus":
            rows = df[(df["source"] == sid) & ~df["q_corrupt"]]
            if len(rows) and (rows["width"] == 48).all() and (rows["height"] == 48).all():
                block = READY_48_GRAY  # CK+48
        blocks.append(block)
    if blocks and blocks[0] is not None and all(b == blocks[0] for b in blocks):
        return {"ready_made": True, **blocks[0]}
    return None


# -- reading ---------------------------------------------------------------------------------

def record(name: str) -> Dataset:
    """The store's record of dataset ``name``; ``DatasetError`` when there is none."""
    try:
        return Dataset.open(name)
    except (NotFound, ValueError) as e:
        raise DatasetError(str(e)) from None


def info(name: str) -> dict:
    return record(name).info()


def manifest(name: str) -> pd.DataFrame:
    return record(name).manifest()


def near_pairs(name: str) -> pd.DataFrame:
    return record(name).near_pairs()


def names() -> list[str]:
    return [d.name for d in Dataset.list()]


def summary(name: str) -> dict:
    """Counts per split and class, dropped labels and each check's count, for one dataset."""
    df = manifest(name)
    d = info(name)
    table = pd.crosstab(df["label_name"], df["split"]).reindex(index=list(CLASSES), columns=list(splits.SPLITS),
                                                                 fill_value=0)
    return {
        "name": name,
        "rows": len(df),
        "sources": {k: v["format"] for k, v in d["sources"].items()},
        "created": d.get("created"),
        "splits": {s: int((df["split"] == s).sum()) for s in splits.SPLITS},
        "classes": table,
        "dropped": d.get("dropped", {}),
        "checks": quality.counts(df),
        "dup_groups": int(df["dup_group"].nunique()),
        "bytes": store.disk_usage(record(name).folder),
    }


def summary_text(s: dict) -> str:
    """A dataset's summary as the command line prints it: counts per class and split, dropped
    labels, each check's count."""
    table = s["classes"].copy()
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum(axis=0)
    return "\n".join([
        f"dataset {s['name']}: {s['rows']} images from {', '.join(f'{k} ({v})' for k, v in s['sources'].items())}",
        table.to_string(),
        *(["dropped (outside the seven classes or unusable): " + ", ".join(f"{k}: {v}" for k, v in s["dropped"].items())]
          if s["dropped"] else []),
        "checks: " + ", ".join(f"{k[2:]}: {v}" for k, v in s["checks"].items()),
    ])


def read_bytes(dataset_info: dict, path: str, limits: Limits | None = None) -> bytes:
    """The stored bytes behind a manifest ``path`` (``source_id:inner``), within ``limits`` (the
    settings' when none are given: a loop over many images reads them once and passes them)."""
    sid, _, inner = path.partition(":")
    src = dataset_info["sources"].get(sid)
    if src is None:
        raise DatasetError(f"{path!r}: unknown source {sid!r}")
    return read_member(src["location"], src["kind"], inner, limits)


def load_image(dataset_info: dict, path: str, max_pixels: int = MAX_PIXELS, limits: Limits | None = None):
    """The image behind a manifest ``path`` as a PIL image (FER2013 CSV rows included)."""
    sid, _, inner = path.partition(":")
    member, _, row = inner.rpartition("#")
    if row.isdigit() and member.lower().endswith(".csv"):  # a FER2013 CSV row
        src = dataset_info["sources"][sid]
        return Image.fromarray(fer_pixels(csv_pixels(src["location"], src["kind"], member)[int(row)]), "L")
    return open_image(read_bytes(dataset_info, path, limits), max_pixels)


__all__ = ["COLUMNS", "DatasetError", "ImportResult", "SourceError", "SourceSpec", "import_dataset", "info",
           "load_image", "manifest", "names", "near_pairs", "read_bytes", "record", "summary", "summary_text"]
