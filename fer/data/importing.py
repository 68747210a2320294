"""Bringing datasets in from the pages: preview a label mapping, check a new dataset's name, accept
a server folder (inside the import roots) or an uploaded zip (the import itself is a job:
``fer.jobs.launch``)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from fer import settings, store
from fer.data import archive, dataset
from fer.data.formats import FORMATS, detect
from fer.data.sources import SourceError, SourceFiles
from fer.labels import CLASSES, LabelMapper, parse_mapping
from fer.store import Dataset


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


NAME_RULE = "letters, digits, '.', '_' or '-' (at most 64 characters, not starting with a dot)"


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a new dataset's name, in one line that says what a valid one is;
    None when it can. The page asks before anything is uploaded or queued."""
    if not name.strip():
        return f"A dataset needs a name: {NAME_RULE}, e.g. fer2013."
    try:
        store.check_name(name, "dataset name")
    except ValueError:
        return f"{name!r} cannot name a dataset: use {NAME_RULE}, e.g. fer2013."
    if Dataset.exists(name):
        return f"A dataset named {name!r} exists already: choose another name (or re-import it under Manage)."
    return None


def check_folder(path: str) -> Path:
    """A folder, zip or CSV on the server that the app may import from: inside the import roots
    of the settings, and there. A missing path and one outside the roots get the same answer, so
    the box tells nobody which paths exist on the server."""
    p = Path(path).expanduser()
    if not (settings.within_import_roots(p) and p.exists()):
        roots = ", ".join(settings.load().import_roots)
        raise SourceError(f"{path}: no folder, zip or CSV of that name inside the import roots ({roots}); put it "
                          "there, or add its folder to the import roots on the Settings page")
    return p.resolve()


def save_upload(name: str, filename: str, data: bytes) -> Path:
    """Keep an uploaded zip under ``datasets/<name>/sources/`` after judging it whole as an
    import does (``fer.data.archive.judge``: member names, count, compression ratio)."""
    store.check_name(name, "dataset name")
    archive.judge(data, filename)
    safe = Path(filename).name or "upload.zip"
    return store.write_bytes(Dataset(name).sources_dir / safe, data)
