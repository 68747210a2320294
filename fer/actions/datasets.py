"""Datasets: keep an uploaded zip, import (as a job, or here for the command line), re-import,
align, rename, delete."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from fer.actions.core import Entry, action
from fer.data import SourceSpec, dataset, importing, lifecycle
from fer.jobs import launch


@action("dataset.upload", "import datasets", lambda name, filename, data: f"dataset {name}: upload {Path(filename).name}")
def add_upload(entry: Entry, name: str, filename: str, data: bytes) -> Path:
    """An uploaded zip, judged whole, kept under the dataset's folder for its import."""
    saved = importing.save_upload(name, filename, data)
    entry.detail = {"dataset": name, "file": saved.name, "bytes": len(data)}
    return saved


def _import_target(sources, name, *args, **kwargs) -> str:
    return f"dataset {name} from {len(sources)} source(s)"


@action("dataset.import", "import datasets", _import_target)
def import_dataset(entry: Entry, sources: list[SourceSpec | str], name: str, mapping: list[str] | None = None,
                   align: bool = False, replace: bool = False, seed: int = 0, here: bool = False,
                   progress: Callable | None = None):
    """``sources`` (``SourceSpec``s, or ``path[=FORMAT]`` texts) imported as dataset ``name``:
    queued as a job (the pages), or here in the foreground (``here``: the command line, with
    ``progress``), which returns the import's result."""
    sources = [SourceSpec.parse(s) if isinstance(s, str) else s for s in sources]
    entry.detail = {"dataset": name, "sources": [str(s.location) for s in sources], "replace": replace}
    if not here:
        folder = launch.import_dataset(sources, name, mapping, align=align, replace=replace, seed=seed)
        entry.detail["job"] = folder.name
        return folder
    result = dataset.import_dataset(sources, name, mapping=mapping, seed=seed, replace=replace, progress=progress)
    entry.detail["images"] = len(result.manifest)
    if align:
        from fer.data.align import align_dataset

        align_dataset(name, progress=progress)
    return result


@action("dataset.reimport", "re-import datasets", lambda name: f"dataset {name}")
def reimport(entry: Entry, name: str) -> Path:
    """The same sources, formats, mapping and seed again (files changed on disk), as a job."""
    folder = launch.reimport(name)
    entry.detail = {"dataset": name, "job": folder.name}
    return folder


@action("dataset.align", "align datasets", lambda name, *a, **k: f"dataset {name}")
def align(entry: Entry, name: str, detector: str = "mtcnn", size: int | None = None, here: bool = False,
          margin: float = 0.3, grayscale: bool | None = None, progress: Callable | None = None):
    """Detect and align a dataset's faces: queued as a job, or here (``here``), which returns the
    alignment's summary."""
    entry.detail = {"dataset": name, "detector": detector, "size": size}
    if not here:
        folder = launch.align(name, detector, size)
        entry.detail["job"] = folder.name
        return folder
    from fer.data.align import align_dataset

    return align_dataset(name, size=size, detector=detector, margin=margin, grayscale=grayscale, progress=progress)


@action("dataset.rename", "rename datasets", lambda old, new: f"dataset {old} → {new}")
def rename(entry: Entry, old: str, new: str) -> Path:
    entry.replaced = {"name": old}
    return lifecycle.rename(old, new)


@action("dataset.delete", "delete datasets", lambda name: f"dataset {name}")
def delete(entry: Entry, name: str) -> None:
    """The dataset's folder (manifest, crops, decisions, uploads) goes; sources outside the store
    stay, and the record keeps what a re-import needs."""
    info = dataset.info(name)
    entry.replaced = {"sources": {k: {"location": v.get("location"), "format": v.get("format")}
                                  for k, v in info.get("sources", {}).items()},
                      "label_map": info.get("label_map", {}), "images": info.get("rows"),
                      "seed": (info.get("split") or {}).get("seed")}
    lifecycle.delete(name)
