"""Source adapters: each known layout → records (file, label, official split, subject).

An adapter lists what a source holds; it decodes nothing (the scan does that, in parallel).
Labels go through one ``LabelMapper``, so aliases, user mappings and dropped classes are
handled the same way for every format.
"""
from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Callable, Iterator

import pandas as pd
import yaml

from fer.data.sources import SourceError, SourceFiles
from fer.images import is_image_name
from fer.labels import FER2013_IDS, RAFDB_IDS, LabelMapper, normalise

SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val", "publictest": "val",
    "test": "test", "testing": "test", "privatetest": "test",
}


@dataclass(frozen=True)
class Record:
    inner: str  # the file inside the source (for CSV: "file.csv#row")
    label: int
    raw_label: str
    split: str | None = None  # the source's official split, if it has one
    subject: str | None = None


def split_of(parts) -> str | None:
    """The official split named by the nearest folder that is a split alias."""
    for part in reversed(list(parts)):
        s = SPLIT_ALIASES.get(normalise(part).replace("_", ""))
        if s:
            return s
    return None


def _class_folder(parts: tuple[str, ...], mapper: LabelMapper) -> str | None:
    """The nearest ancestor folder that names a class; else the immediate parent."""
    for part in reversed(parts):
        if mapper.knows(part):
            return part
    return parts[-1] if parts else None


def _image_names(files: SourceFiles) -> list[str]:
    return [n for n in files.names() if is_image_name(n)]


# -- class-per-folder layouts ---------------------------------------------------------------

FER_FILE_RE = re.compile(r"^(Training|PublicTest|PrivateTest)_\d+", re.I)


def _folders(files: SourceFiles, mapper: LabelMapper, split_from_name=None, subject_from_name=None):
    for name in _image_names(files):
        *folders, fname = name.split("/")
        raw = _class_folder(tuple(folders), mapper)
        if raw is None:
            mapper.dropped["(no class folder)"] += 1
            continue
        label = mapper.map(raw)
        if label is None:
            continue
        split = (split_from_name(fname) if split_from_name else None) or split_of(folders)
        subject = subject_from_name(fname) if subject_from_name else None
        yield Record(name, label, raw, split, subject)


def read_imagefolder(files, mapper):
    yield from _folders(files, mapper)


def read_fer2013_folders(files, mapper):
    """``train/<class>/Training_*.jpg``, ``test/<class>/{PublicTest,PrivateTest}_*.jpg``: the
    Kaggle form merges PublicTest and PrivateTest under ``test/``; the file name tells them apart."""

    def split_from_name(fname):
        m = FER_FILE_RE.match(fname)
        return SPLIT_ALIASES[m.group(1).lower()] if m else None

    yield from _folders(files, mapper, split_from_name=split_from_name)


CKPLUS_RE = re.compile(r"^(S\d{3})_\d{3}_\d+", re.I)


def read_ckplus(files, mapper):
    def subject(fname):
        m = CKPLUS_RE.match(fname)
        return m.group(1).upper() if m else None

    yield from _folders(files, mapper, subject_from_name=subject)


# -- codes in file names --------------------------------------------------------------------

# KDEF: session (A/B), gender (F/M), subject number, expression, pose; e.g. AF01ANS.JPG, BM23HAHL.JPG
KDEF_RE = re.compile(r"^([AB])([FM])(\d{2})(AF|AN|DI|HA|NE|SA|SU)(S|HL|HR|FL|FR)\.jpe?g$", re.I)
KDEF_POSES = ("S", "HL", "HR")  # straight and half profiles; full profiles hide half the face
# JAFFE: subject initials, expression code with a counter, image number; e.g. KA.AN1.39.tiff
JAFFE_RE = re.compile(r"^([A-Z]{2})\.(AN|DI|FE|HA|NE|SA|SU)\d*\.\d+\.(tiff?|png|jpe?g)$", re.I)


def read_kdef(files, mapper):
    for name in _image_names(files):
        m = KDEF_RE.match(PurePosixPath(name).name)
        if not m:
            mapper.dropped["(name not in KDEF form)"] += 1
            continue
        _, gender, number, code, pose = (g.upper() for g in m.groups())
        if pose not in KDEF_POSES:
            mapper.dropped[f"(pose {pose})"] += 1
            continue
        label = mapper.map(code)
        if label is not None:
            yield Record(name, label, code, split_of(PurePosixPath(name).parts[:-1]), gender + number)


def read_jaffe(files, mapper):
    for name in _image_names(files):
        m = JAFFE_RE.match(PurePosixPath(name).name)
        if not m:
            mapper.dropped["(name not in JAFFE form)"] += 1
            continue
        subject, code = m.group(1).upper(), m.group(2).upper()
        label = mapper.map(code)
        if label is not None:
            yield Record(name, label, code, None, subject)


# -- list and label files -------------------------------------------------------------------

RAFDB_LIST = "list_patition_label.txt"  # sic: RAF-DB's own spelling


def read_rafdb(files, mapper):
    """RAF-DB basic: ``EmoLabel/list_patition_label.txt`` (``train_00001.jpg 5``, ids 1-7) and
    ``Image/aligned/train_00001_aligned.jpg`` or ``Image/original/train_00001.jpg``; aligned
    images are preferred when both are there."""
    names = files.names()
    lists = [n for n in names if n.endswith(RAFDB_LIST)]
    if not lists:
        raise SourceError(f"{files.label}: no {RAFDB_LIST} found (RAF-DB basic layout)")
    by_base: dict[str, str] = {}
    for n in names:
        if is_image_name(n):
            base = PurePosixPath(n).name
            stem = PurePosixPath(base).stem
            if stem.endswith("_aligned"):
                by_base[stem[: -len("_aligned")]] = n  # aligned wins
            else:
                by_base.setdefault(stem, n)
    for line in files.read(lists[0]).decode("utf-8", "replace").splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        fname, code = fields[0], fields[1]
        stem = PurePosixPath(fname).stem
        inner = by_base.get(stem)
        if inner is None:
            mapper.dropped["(listed image missing)"] += 1
            continue
        label = mapper.map(code, codes=RAFDB_IDS)
        if label is not None:
            yield Record(inner, label, code, split_of([stem.split("_")[0]]), None)


def _yolo_names(files: SourceFiles, names: list[str]) -> dict[int, str]:
    yamls = [n for n in names if PurePosixPath(n).name in ("data.yaml", "data.yml")]
    if not yamls:
        raise SourceError(f"{files.label}: no data.yaml with class names (AffectNet YOLO layout)")
    try:
        doc = yaml.safe_load(files.read(yamls[0])) or {}
    except yaml.YAMLError as e:
        raise SourceError(f"{files.label}: {yamls[0]} is not valid YAML ({e})") from None
    cls = doc.get("names")
    if isinstance(cls, list):
        return dict(enumerate(str(c) for c in cls))
    if isinstance(cls, dict):
        return {int(k): str(v) for k, v in cls.items()}
    raise SourceError(f"{files.label}: {yamls[0]} has no 'names' list")


def read_affectnet_yolo(files, mapper):
    """``<split>/images/x.jpg`` with ``<split>/labels/x.txt`` (or ``images/<split>/``): one row
    per image, labelled by its largest box; class names from ``data.yaml``."""
    names = files.names()
    class_names = _yolo_names(files, names)
    labels = {n for n in names if n.endswith(".txt")}
    for name in names:
        if not is_image_name(name):
            continue
        parts = list(PurePosixPath(name).parts)
        if "images" not in parts:
            continue
        i = len(parts) - 1 - parts[::-1].index("images")
        parts[i] = "labels"
        label_file = str(PurePosixPath(*parts).with_suffix(".txt"))
        if label_file not in labels:
            mapper.dropped["(no label file)"] += 1
            continue
        boxes = []
        for line in files.read(label_file).decode("utf-8", "replace").splitlines():
            f = line.split()
            try:
                boxes.append((float(f[3]) * float(f[4]), int(float(f[0]))))
            except (IndexError, ValueError):
                continue
        if not boxes:
            mapper.dropped["(no label)"] += 1
            continue
        cls = max(boxes)[1]
        raw = class_names.get(cls, str(cls))
        label = mapper.map(raw)
        if label is not None:
            yield Record(name, label, raw, split_of(PurePosixPath(name).parts[:-1]))


def _csv_names(files: SourceFiles) -> list[str]:
    return [n for n in files.names() if n.lower().endswith(".csv")]


def _is_fer_csv(files: SourceFiles, name: str) -> bool:
    head = files.head(name).decode("utf-8", "replace").lower()
    cols = [c.strip() for c in head.splitlines()[0].split(",")] if head else []
    return "emotion" in cols and "pixels" in cols


def read_fer2013_csv(files, mapper):
    """``emotion,pixels,Usage``: one row per line; ``Usage`` gives the official split."""
    csvs = [n for n in _csv_names(files) if _is_fer_csv(files, n)]
    if not csvs:
        raise SourceError(f"{files.label}: no CSV with 'emotion' and 'pixels' columns (FER2013 CSV)")
    for name in csvs:
        df = pd.read_csv(io.BytesIO(files.read(name)), dtype=str, keep_default_na=False)
        df.columns = [c.strip().lower() for c in df.columns]
        usage = df["usage"] if "usage" in df.columns else None
        for i, code in enumerate(df["emotion"]):
            label = mapper.map(code.strip(), codes=FER2013_IDS)
            if label is not None:
                split = SPLIT_ALIASES.get(normalise(usage.iat[i])) if usage is not None else None
                yield Record(f"{name}#{i}", label, code.strip(), split)


# -- registry and detection -----------------------------------------------------------------

# FER2013's crops as our crop geometry: MTCNN on 350 upscaled fer2013-mini faces finds a box
# centred in the image (24.0, 24.3 of 48) and slightly larger than it, so the equivalent margin
# is -0.04 (interquartile range -0.09 to 0.01), eyes 39 % down. CK+48 crops are cut the same
# way (assumed: no CK+ data here to measure). Photos are prepared for such a model by detecting
# with MTCNN, levelling the eyes and cutting with this margin.
READY_48_GRAY = {"detector": "mtcnn", "align": True, "margin": -0.04, "size": 48, "grayscale": True}


@dataclass(frozen=True)
class Format:
    name: str
    read: Callable[[SourceFiles, LabelMapper], Iterator[Record]]
    description: str
    # crops made by the dataset's authors (no detection needed): their size and colour
    ready_made: dict | None = None


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("fer2013-folders", read_fer2013_folders, "FER2013 image folders (train/ test/ <class>/)", READY_48_GRAY),
    Format("fer2013-csv", read_fer2013_csv, "FER2013 CSV (emotion,pixels,Usage)", READY_48_GRAY),
    Format("rafdb", read_rafdb, "RAF-DB basic (EmoLabel/list_patition_label.txt)"),
    Format("affectnet-yolo", read_affectnet_yolo, "AffectNet in YOLO form (images/, labels/, data.yaml)"),
    Format("kdef", read_kdef, "KDEF (codes in file names, poses S, HL, HR kept)"),
    Format("ckplus", read_ckplus, "CK+ class folders (subject S###); CK+48 crops are ready-made"),
    Format("jaffe", read_jaffe, "JAFFE (codes in file names, subject prefix)"),
    Format("imagefolder", read_imagefolder, "any class-per-folder tree"),
)}


def detect(files: SourceFiles, mapper: LabelMapper | None = None) -> str:
    """The format of a source, from its file names (and a CSV header); ``SourceError`` if unclear."""
    mapper = mapper or LabelMapper()
    names = files.names()
    if any(n.endswith(RAFDB_LIST) for n in names):
        return "rafdb"
    if any(PurePosixPath(n).name in ("data.yaml", "data.yml") for n in names) and any(
        "labels" in PurePosixPath(n).parts and n.endswith(".txt") for n in names
    ):
        return "affectnet-yolo"
    if any(_is_fer_csv(files, n) for n in _csv_names(files)):
        return "fer2013-csv"
    images = [n.split("/") for n in names if is_image_name(n)]
    if images:
        votes = Counter()
        for *_, fname in images:
            if FER_FILE_RE.match(fname):
                votes["fer2013-folders"] += 1
            elif KDEF_RE.match(fname):
                votes["kdef"] += 1
            elif JAFFE_RE.match(fname):
                votes["jaffe"] += 1
            elif CKPLUS_RE.match(fname):
                votes["ckplus"] += 1
        if votes:
            fmt, n = votes.most_common(1)[0]
            if n >= 0.5 * len(images):
                return fmt
        if any(any(mapper.knows(part) for part in p[:-1]) for p in images):
            return "imagefolder"
    formats = ", ".join(FORMATS)
    raise SourceError(
        f"cannot tell the format of {files.label} ({len(images)} images, no known layout); "
        f"name it as SRC=FORMAT with one of: {formats}"
    )
