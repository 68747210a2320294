"""Datasets of the store as a user manages them: rename and delete (decisions and uploads go with
the folder), and the disk each one uses."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

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


def disk_use() -> pd.DataFrame:
    """MiB per dataset of the store."""
    return pd.DataFrame([{"dataset": d.name, "MiB": store.disk_usage(d.folder) / 2**20} for d in Dataset.list()])
