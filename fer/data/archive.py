"""Judging a zip before anything in it is read, and reading a file never past its size limit.

Decompression bombs are stopped at two levels, with the limits of the settings
(``fer.settings``: ``zip_max_members``, ``zip_max_ratio``, ``max_image_mib``, ``max_file_mib``):

- the archive (``judge``, when it is opened for an import or an upload): member names inside
  its folder, the member count (read from the end record before the directory is parsed), and
  the total unpacked size against ``zip_max_ratio`` times the archive's own size. A refusal
  raises ``SourceError``; nothing of the archive is read.
- each member (``member_problem``, when it is read): its declared size against the limit for
  its kind (an image, or any other file) and its own compression ratio. A refused image is one
  flagged row (``q_corrupt``, the reason in ``error``); a refused label list or CSV refuses the
  import, naming the member.

Reads stream in blocks and stop at the limit, so a header that lies about a size cannot carry
a read past it. Nothing refuses a dataset for its total size: a 50 GB AffectNet zip of JPEGs
inflates about 1:1 and imports.
"""
from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from fer import settings
from fer.images import is_image_name

MiB = 2**20
BLOCK = MiB
# Small members are left out of the ratio checks: a blank 48x48 BMP inflates 50:1 and is harmless.
RATIO_GRACE = MiB


class SourceError(ValueError):
    """A source that cannot be read: the message is one line a user can act on."""


def size_text(n: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", MiB), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} bytes"


_DEFAULTS = settings.Settings()


@dataclass(frozen=True)
class Limits:
    """The limits in force (from the settings); hashable, so worker tasks and caches carry it."""

    image_bytes: int = _DEFAULTS.max_image_mib * MiB
    file_bytes: int = _DEFAULTS.max_file_mib * MiB
    members: int = _DEFAULTS.zip_max_members
    ratio: float = _DEFAULTS.zip_max_ratio

    @classmethod
    def current(cls) -> "Limits":
        s = settings.load()
        return cls(int(s.max_image_mib * MiB), int(s.max_file_mib * MiB), int(s.zip_max_members),
                   float(s.zip_max_ratio))

    def cap(self, name: str) -> tuple[int, str]:
        """The size limit for a file of this name, and the setting that holds it."""
        if is_image_name(name):
            return self.image_bytes, "max_image_mib"
        return self.file_bytes, "max_file_mib"


def check_characters(name: str, what: str = "zip member") -> None:
    """Refuse a name holding a control character: a line break in it would split its row in the
    decisions file, an escape sequence would colour a terminal."""
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise SourceError(f"{what} {name!r} has a control character in its name; rename it")


def check_member_name(name: str) -> None:
    """Refuse a zip member whose name would land outside the archive's folder."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        raise SourceError(f"zip member {name!r} has an absolute path; the archive is refused")
    if ".." in PurePosixPath(norm).parts:
        raise SourceError(f"zip member {name!r} escapes the archive; the archive is refused")
    check_characters(name)


def member_problem(info: zipfile.ZipInfo, limits: Limits) -> str | None:
    """Why this member must not be read (its declared size or its compression ratio), or None."""
    cap, key = limits.cap(info.filename)
    size = info.file_size
    if size > cap:
        kind = "an image" if key == "max_image_mib" else "a file"
        return (f"zip member {info.filename!r}: {size_text(size)} unpacked, over the {size_text(cap)} limit "
                f"for {kind} ({key})")
    if size > RATIO_GRACE and size > limits.ratio * max(info.compress_size, 1):
        return (f"zip member {info.filename!r}: {size_text(size)} unpacked from {size_text(info.compress_size)} "
                f"(x{size / max(info.compress_size, 1):,.0f}), over the compression ratio limit of "
                f"x{limits.ratio:g} (zip_max_ratio)")
    return None


def _end_record(fp: BinaryIO) -> list | None:
    """The archive's end record (None: not a zip), read before the central directory is parsed,
    so a member count over the limit is refused before millions of entries are held in memory."""
    end = getattr(zipfile, "_EndRecData", None)  # the stdlib's own reader, as is_zipfile uses it
    try:
        if end is None:
            return [] if zipfile.is_zipfile(fp) else None
        return end(fp)
    except (OSError, ValueError):
        return None


def judge(source: str | Path | bytes, label: str, limits: Limits | None = None) -> list[zipfile.ZipInfo]:
    """Check a zip (a path, or the bytes of an upload) whole before any member is read; return
    its members. Raises ``SourceError`` naming what is over which limit."""
    limits = limits or Limits.current()
    fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    with fp:
        packed = fp.seek(0, os.SEEK_END)
        fp.seek(0)
        record = _end_record(fp)
        if record is None:
            raise SourceError(f"{label}: not a zip archive (corrupt or another format)")
        declared = int(record[zipfile._ECD_ENTRIES_TOTAL]) if record else 0
        if declared > limits.members:
            raise SourceError(f"{label}: {declared:,} members, over the limit of {limits.members:,} "
                              "(zip_max_members); the archive is refused")
        try:
            with zipfile.ZipFile(fp) as zf:
                infos = zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
            raise SourceError(f"{label}: not a readable zip archive ({e})") from None
    if len(infos) > limits.members:
        raise SourceError(f"{label}: {len(infos):,} members, over the limit of {limits.members:,} "
                          "(zip_max_members); the archive is refused")
    for info in infos:
        check_member_name(info.filename)
    unpacked = sum(i.file_size for i in infos)
    if unpacked > RATIO_GRACE and unpacked > limits.ratio * max(packed, 1):
        big = max(infos, key=lambda i: i.file_size)
        raise SourceError(
            f"{label}: {size_text(unpacked)} unpacked from {size_text(packed)} (x{unpacked / max(packed, 1):,.0f}), "
            f"over the compression ratio limit of x{limits.ratio:g} (zip_max_ratio): a decompression bomb? Its "
            f"largest member {big.filename!r} unpacks to {size_text(big.file_size)}; the archive is refused")
    return infos


def read_capped(f: BinaryIO, cap: int, what: str, key: str) -> bytes:
    """Everything ``f`` holds, read in blocks; ``SourceError`` as soon as it passes ``cap`` bytes."""
    blocks, n = [], 0
    while True:
        block = f.read(min(BLOCK, cap + 1 - n))
        if not block:
            return b"".join(blocks)
        n += len(block)
        if n > cap:
            raise SourceError(f"{what}: more than {size_text(cap)}, over the limit ({key}); not read further")
        blocks.append(block)


def read_member(zf: zipfile.ZipFile, name: str, limits: Limits) -> bytes:
    """A member's bytes, judged by its declared size and ratio first, then read with the cap."""
    info = zf.getinfo(name)
    problem = member_problem(info, limits)
    if problem:
        raise SourceError(problem)
    cap, key = limits.cap(name)
    with zf.open(info) as f:
        return read_capped(f, cap, f"zip member {name!r}", key)


def read_file(path: Path, limits: Limits, name: str) -> bytes:
    """A file's bytes (``name``: as the source calls it), refused from its size before reading
    and read with the cap."""
    cap, key = limits.cap(name)
    size = path.stat().st_size
    if size > cap:
        kind = "an image" if key == "max_image_mib" else "a file"
        raise SourceError(f"{name!r}: {size_text(size)}, over the {size_text(cap)} limit for {kind} ({key})")
    with open(path, "rb") as f:
        return read_capped(f, cap, repr(name), key)
