"""Datasets of the store as a user manages them: rename and delete (decisions and uploads go with
the folder)."""
from __future__ import annotations

from pathlib import Path

from fer import store
from fer.data import dataset
from fer.store import Dataset


def rename(old: str, new: str) -> Path:
    src = dataset.record(old)
    dst = Dataset(store.check_name(new, "dataset name"))
    if dst.folder.exists():
        raise dataset.DatasetError(f"dataset {new!r} exists already")
    store.move_folder(src.folder, dst.folder)
    info = dst.info()
    info["name"] = new
    for s in info["sources"].values():  # uploads kept inside the folder moved with it
        if s["location"].startswith(str(src.folder) + "/"):
            s["location"] = str(dst.folder) + s["location"][len(str(src.folder)):]
    store.write_json(dst.info_path, info)
    return dst.folder


def delete(name: str) -> None:
    store.remove_folder(dataset.record(name).folder)
