"""A read-only view of a source: a folder, a ``.zip`` (read in place) or a single file.

A zip is judged whole when it is opened (``fer.data.archive``): member names inside its folder,
member count and compression ratio, so nothing from a refused archive is ever read or
extracted. Every file is read with the size limit of its kind (an image, or any other file).
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from functools import lru_cache
from pathlib import Path

from fer.data import archive
from fer.data.archive import Limits, SourceError, check_member_name

SKIP_PARTS = ("__MACOSX",)

__all__ = ["Limits", "SourceError", "SourceFiles", "check_member_name", "read_member"]


def _skipped(name: str) -> bool:
    parts = name.split("/")
    return any(p in SKIP_PARTS for p in parts) or parts[-1].startswith(".")


class SourceFiles:
    """Files of one source, named by their POSIX path inside it."""

    def __init__(self, location: str | Path, limits: Limits | None = None):
        self.location = Path(location).expanduser().resolve()
        if not self.location.exists():
            raise SourceError(f"{location}: no such file or folder")
        self.limits = limits or Limits.current()
        self._names: list[str] | None = None
        if self.location.is_dir():
            self.kind = "dir"
        elif zipfile.is_zipfile(self.location):
            self.kind = "zip"
            infos = archive.judge(self.location, self.location.name, self.limits)
            self._names = sorted(i.filename for i in infos if not i.is_dir() and not _skipped(i.filename))
        elif self.location.suffix.lower() == ".zip":
            raise SourceError(f"{location}: not a zip archive (corrupt or another format)")
        else:
            self.kind = "file"

    @property
    def label(self) -> str:
        return self.location.name

    def names(self) -> list[str]:
        """Every file, sorted; hidden files and ``__MACOSX`` left out. Listed once."""
        if self._names is None:
            if self.kind == "file":
                names = [self.location.name]
            else:
                names = []
                for dirpath, dirs, files in os.walk(self.location):
                    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                    rel = Path(dirpath).relative_to(self.location).as_posix()
                    names.extend(f if rel == "." else f"{rel}/{f}" for f in files)
            self._names = sorted(n for n in names if not _skipped(n))
            for n in self._names:
                archive.check_characters(n, "file")
        return self._names

    def read(self, name: str) -> bytes:
        """A file's bytes, within the size limit of its kind (``SourceError`` beyond it)."""
        return read_member(str(self.location), self.kind, name, self.limits)

    def head(self, name: str, n: int = 256) -> bytes:
        """The first ``n`` bytes of a file (a CSV header), without reading the rest."""
        if self.kind == "zip":
            with _zip(str(self.location), os.getpid()).open(name) as f:
                return f.read(n)
        path = self.location if self.kind == "file" else self.location / name
        with open(path, "rb") as f:
            return f.read(n)

    def sha256(self) -> str:
        """Of the file itself for a zip or file; of the sorted (name, size) listing for a folder."""
        h = hashlib.sha256()
        if self.kind == "dir":
            for n in self.names():
                h.update(f"{n}\t{(self.location / n).stat().st_size}\n".encode())
        else:
            with open(self.location, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        return h.hexdigest()

    def spec(self) -> tuple[str, str]:
        """What a worker process needs to read members: (location, kind)."""
        return str(self.location), self.kind


@lru_cache(maxsize=8)
def _zip(location: str, pid: int) -> zipfile.ZipFile:
    # One open handle per archive and process. Keyed by pid: a forked worker must not reuse its
    # parent's handle, whose file offset the two processes would share.
    return zipfile.ZipFile(location)


def read_member(location: str, kind: str, name: str, limits: Limits | None = None) -> bytes:
    """The bytes of one file of a source, never read past the limit for its kind (the settings'
    limits when none are given); ``SourceError`` says which file, its size and the limit."""
    limits = limits or Limits.current()
    if kind == "zip":
        return archive.read_member(_zip(location, os.getpid()), name, limits)
    if kind == "file":
        return archive.read_file(Path(location), limits, Path(location).name)
    path = Path(location, name)
    if Path(location) not in path.resolve().parents:
        raise SourceError(f"{name!r} lies outside the source folder")
    return archive.read_file(path, limits, name)
