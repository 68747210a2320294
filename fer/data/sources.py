"""A read-only view of a source: a folder, a ``.zip`` (read in place) or a single file.

Zip member names are checked when the archive is opened: an absolute name or one that climbs
out with ``..`` refuses the whole archive, so nothing from it is ever read or extracted.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from functools import lru_cache
from pathlib import Path, PurePosixPath

SKIP_PARTS = ("__MACOSX",)


class SourceError(ValueError):
    """A source that cannot be read: the message is one line a user can act on."""


def _skipped(name: str) -> bool:
    parts = name.split("/")
    return any(p in SKIP_PARTS for p in parts) or parts[-1].startswith(".")


def check_member_name(name: str) -> None:
    """Refuse a zip member whose name would land outside the archive's folder."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        raise SourceError(f"zip member {name!r} has an absolute path; the archive is refused")
    if ".." in PurePosixPath(norm).parts:
        raise SourceError(f"zip member {name!r} escapes the archive; the archive is refused")


class SourceFiles:
    """Files of one source, named by their POSIX path inside it."""

    def __init__(self, location: str | Path):
        self.location = Path(location).expanduser().resolve()
        if not self.location.exists():
            raise SourceError(f"{location}: no such file or folder")
        self._names: list[str] | None = None
        if self.location.is_dir():
            self.kind = "dir"
        elif zipfile.is_zipfile(self.location):
            self.kind = "zip"
            with zipfile.ZipFile(self.location) as zf:
                infos = zf.infolist()
            for info in infos:
                check_member_name(info.filename)
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
        return self._names

    def read(self, name: str) -> bytes:
        return read_member(str(self.location), self.kind, name)

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


def read_member(location: str, kind: str, name: str) -> bytes:
    if kind == "zip":
        return _zip(location, os.getpid()).read(name)
    if kind == "file":
        return Path(location).read_bytes()
    path = Path(location, name)
    if Path(location) not in path.resolve().parents:
        raise SourceError(f"{name!r} lies outside the source folder")
    return path.read_bytes()
