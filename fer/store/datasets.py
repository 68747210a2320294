"""Datasets of the store: ``datasets/<name>/`` with its manifest, dataset.json, near pairs,
decisions and aligned faces, and the short ids of its images that links carry."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fer.store import io, layout
from fer.store.names import IMAGE_ID_RE, NotFound, check_name, children, inside

_IMAGE_IDS: dict[tuple, dict[str, str]] = {}


@dataclass(frozen=True)
class Dataset:
    name: str

    @property
    def folder(self) -> Path:
        return layout.datasets_dir() / self.name

    @classmethod
    def list(cls) -> list["Dataset"]:
        return [cls(p.name) for p in children(layout.datasets_dir()) if (p / layout.DATASET_INFO).exists()]

    @classmethod
    def open(cls, name: str) -> "Dataset":
        d = cls(check_name(name, "dataset name"))
        if not (d.folder / layout.DATASET_INFO).is_file():
            raise NotFound(f"no dataset named {name!r} in {layout.datasets_dir()}")
        inside(d.folder, f"dataset {name!r}")
        return d

    @classmethod
    def exists(cls, name: str) -> bool:
        return (layout.datasets_dir() / check_name(name, "dataset name") / layout.DATASET_INFO).exists()

    # files
    manifest_path = property(lambda self: self.folder / layout.MANIFEST)
    info_path = property(lambda self: self.folder / layout.DATASET_INFO)
    near_pairs_path = property(lambda self: self.folder / layout.NEAR_PAIRS)
    exclusions_path = property(lambda self: self.folder / layout.EXCLUSIONS)
    exclusions_lock_path = property(lambda self: self.folder / layout.EXCLUSIONS_LOCK)
    faces_path = property(lambda self: self.folder / layout.FACES)
    faces_table_path = property(lambda self: self.folder / layout.FACES_TABLE)
    sources_dir = property(lambda self: self.folder / layout.SOURCES)

    def cache_path(self, size: int, channels: int, digest: str) -> Path:
        return self.folder / layout.training_cache(size, channels, digest)

    def old_caches(self, size: int, channels: int) -> list[Path]:
        return sorted(self.folder.glob(layout.training_cache(size, channels)))

    @property
    def stamp(self) -> tuple:
        return io.file_version(self.manifest_path, self.info_path, self.near_pairs_path, self.exclusions_path,
                               self.faces_path)

    def info(self) -> dict:
        d = io.read_json(self.info_path)
        if d is None:
            raise NotFound(f"no dataset named {self.name!r} in {layout.datasets_dir()}")
        return d

    def manifest(self) -> pd.DataFrame:
        return pd.read_parquet(self.manifest_path)

    def near_pairs(self) -> pd.DataFrame:
        return pd.read_parquet(self.near_pairs_path)

    def faces(self, mmap: bool = True):
        """The aligned crops (memory-mapped), or None before alignment."""
        path = self.faces_path
        return np.load(path, mmap_mode="r" if mmap else None) if path.exists() else None

    def image(self, image_id: str) -> str:
        """The manifest path of the image with this id (``image_id``); ``NotFound`` otherwise."""
        if not isinstance(image_id, str) or not IMAGE_ID_RE.fullmatch(image_id):
            raise NotFound(f"invalid image id {image_id!r}")
        key = (self.name, self.stamp)
        if key not in _IMAGE_IDS:
            _IMAGE_IDS.clear()  # one dataset at a time: ids of 36k images are ~3 MB
            _IMAGE_IDS[key] = {image_id_of(p): p for p in self.manifest()["path"]}
        try:
            return _IMAGE_IDS[key][image_id]
        except KeyError:
            raise NotFound(f"no image {image_id} in dataset {self.name!r}") from None


def image_id_of(manifest_path: str) -> str:
    """A short stable id of a manifest row (its ``path``): what links and query parameters carry."""
    return hashlib.sha1(manifest_path.encode("utf-8")).hexdigest()[:16]
