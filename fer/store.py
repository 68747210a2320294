"""Where things live on disk (the store) and how they are written there.

The store is ``artifacts/`` beside the code, or ``$FER_ARTIFACTS``. Every write goes to a
temporary file in the target's folder and is moved into place with ``os.replace``, so a reader
sees the old file or the new one, never half of one.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parent.parent
_UMASK = os.umask(0)
os.umask(_UMASK)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def root() -> Path:
    """The store's folder: ``$FER_ARTIFACTS`` when set, else ``artifacts/`` in the repository."""
    env = os.environ.get("FER_ARTIFACTS")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "artifacts"


def datasets_dir() -> Path:
    return root() / "datasets"


def dataset_dir(name: str) -> Path:
    return datasets_dir() / check_name(name)


def runs_dir() -> Path:
    return root() / "runs"


def models_dir() -> Path:
    return root() / "models"


def jobs_dir() -> Path:
    return root() / "jobs"


def check_name(name: str) -> str:
    """Dataset, run and model names: letters, digits, ``.``, ``_``, ``-``; at most 64."""
    if not NAME_RE.match(name or ""):
        raise ValueError(
            f"invalid name {name!r}: use letters, digits, '.', '_' or '-' (at most 64, not starting with a dot)"
        )
    return name


def _atomic(path: Path, write: Callable[[str], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; the store's files are ordinary files
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    return _atomic(path, lambda tmp: Path(tmp).write_bytes(data))


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_parquet(path: Path, df) -> Path:
    return _atomic(path, lambda tmp: df.to_parquet(tmp, index=False))


def read_json(path: Path, default: Any = None) -> Any:
    """A JSON file, or ``default`` when it is missing or torn."""
    try:
        return json.loads(Path(path).read_text("utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return default


def disk_usage(path: Path) -> int:
    """Bytes under ``path`` (files only, links not followed)."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total
