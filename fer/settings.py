"""Settings in force: ``$FER_ARTIFACTS/settings.toml``, overridden by environment variables.

| key             | environment         | default                           |
|-----------------|---------------------|-----------------------------------|
| import_roots    | FER_IMPORT_ROOTS    | the store's imports/ folder       |
| device          | FER_DEVICE          | "auto" (a GPU when there is one)  |
| max_jobs        | FER_MAX_JOBS        | 1                                 |
| ice_servers     | FER_ICE_SERVERS     | [] (localhost needs none)         |
| jobs_backend    | FER_JOBS_BACKEND    | "local" (or "ray": Ray Jobs)      |
| ray_address     | FER_RAY_ADDRESS     | "http://127.0.0.1:8265"           |
| study_storage   | FER_STUDY_STORAGE   | "" (SQLite in the store)          |
| max_image_mib   | FER_MAX_IMAGE_MIB   | 64 (an image file, zipped or not) |
| max_file_mib    | FER_MAX_FILE_MIB    | 512 (a CSV, a label list, ...)    |
| zip_max_members | FER_ZIP_MAX_MEMBERS | 1,000,000                         |
| zip_max_ratio   | FER_ZIP_MAX_RATIO   | 100 (unpacked / packed)           |
| video_max_mib   | FER_VIDEO_MAX_MIB   | 512 (a video file to analyse)     |
| video_max_seconds | FER_VIDEO_MAX_SECONDS | 600 (its duration)            |
| video_max_frames | FER_VIDEO_MAX_FRAMES | 36,000 (its frames)             |

``max_image_mib`` to ``zip_max_ratio`` are the decompression-bomb limits (``fer.data.archive``):
a file is never read past its size limit, and a zip that inflates more than ``zip_max_ratio``
times is not read. There is no limit on a dataset's total size. The video limits bound what the
Predict page's video job decodes (``fer.video``).

``jobs_backend`` says where jobs run: ``local`` (processes on this machine) or ``ray`` (a Ray
cluster's job API at ``ray_address``, its dashboard URL). ``study_storage`` is where Optuna keeps
sweeps: empty for an SQLite file in the store, or any SQLAlchemy URL (PostgreSQL) that workers on
several machines share.

``FER_IMPORT_ROOTS`` is a list separated by ``os.pathsep``; ``FER_ICE_SERVERS`` is JSON in the
WebRTC ``iceServers`` form, e.g. ``[{"urls": ["stun:stun.example.org:3478"]}]``.
"""
from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import tomli_w

from fer import store

DEVICE_CHOICES = ("auto", "cpu", "cuda")
# numeric limits: key → (environment variable, type)
LIMITS = {
    "max_image_mib": ("FER_MAX_IMAGE_MIB", int),
    "max_file_mib": ("FER_MAX_FILE_MIB", int),
    "zip_max_members": ("FER_ZIP_MAX_MEMBERS", int),
    "zip_max_ratio": ("FER_ZIP_MAX_RATIO", float),
    "video_max_mib": ("FER_VIDEO_MAX_MIB", int),
    "video_max_seconds": ("FER_VIDEO_MAX_SECONDS", float),
    "video_max_frames": ("FER_VIDEO_MAX_FRAMES", int),
}
BACKENDS = ("local", "ray")
# plain text keys: key → environment variable
TEXTS = {"jobs_backend": "FER_JOBS_BACKEND", "ray_address": "FER_RAY_ADDRESS", "study_storage": "FER_STUDY_STORAGE"}
KEYS = ("import_roots", "device", "max_jobs", "ice_servers", *LIMITS, *TEXTS)
# environment variables that hold secrets (the sign-in beyond localhost, fer/ui/access.py): never
# passed on to a job that runs elsewhere (a Ray cluster shows a job's environment to whoever reaches it)
ADMIN_PASSWORD_VAR = "FER_ADMIN_PASSWORD"
SECRET_VARS = (ADMIN_PASSWORD_VAR,)


@dataclass
class Settings:
    import_roots: list[str] = field(default_factory=list)
    device: str = "auto"
    max_jobs: int = 1
    ice_servers: list[dict] = field(default_factory=list)
    max_image_mib: int = 64
    max_file_mib: int = 512
    zip_max_members: int = 1_000_000
    zip_max_ratio: float = 100.0
    video_max_mib: int = 512
    video_max_seconds: float = 600.0
    video_max_frames: int = 36_000
    jobs_backend: str = "local"
    ray_address: str = "http://127.0.0.1:8265"
    study_storage: str = ""
    # where each value came from: "default", the settings file's name, or the environment variable's name
    origin: dict[str, str] = field(default_factory=dict, compare=False)

    def validate(self) -> "Settings":
        if not (self.device in DEVICE_CHOICES or self.device.startswith("cuda:")):
            raise ValueError(f"device {self.device!r}: use auto, cpu, cuda or cuda:N")
        if not isinstance(self.max_jobs, int) or self.max_jobs < 1:
            raise ValueError(f"max_jobs {self.max_jobs!r}: use a whole number of at least 1")
        for key in LIMITS:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{key} {value!r}: use a number above 0")
        for server in self.ice_servers:
            if not isinstance(server, dict) or "urls" not in server:
                raise ValueError(f"ICE server {server!r} needs 'urls' (e.g. stun:host:3478)")
        if self.jobs_backend not in BACKENDS:
            raise ValueError(f"jobs_backend {self.jobs_backend!r}: use {' or '.join(BACKENDS)}")
        if not isinstance(self.ray_address, str) or not re.fullmatch(r"https?://[^\s/]+(:\d+)?/?", self.ray_address):
            raise ValueError(f"ray_address {self.ray_address!r}: use the Ray dashboard's URL, e.g. http://127.0.0.1:8265")
        if not isinstance(self.study_storage, str) or (self.study_storage and "://" not in self.study_storage):
            raise ValueError(f"study_storage {self.study_storage!r}: leave it empty (SQLite in the store) or give an "
                             "SQLAlchemy URL, e.g. postgresql://user@host/optuna")
        return self

    def to_toml(self) -> dict:
        d = asdict(self)
        d.pop("origin")
        return d


def path() -> Path:
    return store.settings_path()


def default_import_roots() -> list[str]:
    """The store's own import folder: the app imports from nowhere else until the owner adds a
    folder (Settings, or ``FER_IMPORT_ROOTS``)."""
    return [str(store.layout.imports_dir())]


def load() -> Settings:
    """The settings in force; a broken settings.toml raises ``ValueError`` naming the file."""
    s = Settings(import_roots=default_import_roots())
    s.origin = {k: "default" for k in KEYS}
    p = path()
    if p.exists():
        try:
            data = tomllib.loads(p.read_text("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{p}: not valid TOML ({e})") from None
        for key in s.origin:
            if key in data:
                setattr(s, key, data[key])
                s.origin[key] = p.name
    env = os.environ
    if env.get("FER_IMPORT_ROOTS"):
        s.import_roots = [r for r in env["FER_IMPORT_ROOTS"].split(os.pathsep) if r]
        s.origin["import_roots"] = "FER_IMPORT_ROOTS"
    if env.get("FER_DEVICE"):
        s.device, s.origin["device"] = env["FER_DEVICE"], "FER_DEVICE"
    if env.get("FER_MAX_JOBS"):
        try:
            s.max_jobs = int(env["FER_MAX_JOBS"])
        except ValueError:
            raise ValueError(f"FER_MAX_JOBS={env['FER_MAX_JOBS']!r}: use a whole number") from None
        s.origin["max_jobs"] = "FER_MAX_JOBS"
    if env.get("FER_ICE_SERVERS"):
        try:
            s.ice_servers = json.loads(env["FER_ICE_SERVERS"])
        except json.JSONDecodeError as e:
            raise ValueError(f"FER_ICE_SERVERS is not JSON ({e})") from None
        s.origin["ice_servers"] = "FER_ICE_SERVERS"
    for key, (var, kind) in LIMITS.items():
        if env.get(var):
            try:
                setattr(s, key, kind(env[var]))
            except ValueError:
                raise ValueError(f"{var}={env[var]!r}: use a number") from None
            s.origin[key] = var
    for key, var in TEXTS.items():
        if env.get(var):
            setattr(s, key, env[var].strip())
            s.origin[key] = var
    return s.validate()


def save(s: Settings) -> Path:
    """Write ``settings.toml`` atomically (environment overrides still win when read)."""
    s.validate()
    return store.write_text(path(), tomli_w.dumps(s.to_toml()))


def ray_installed() -> bool:
    """Whether the optional Ray extra is importable here (``pip install 'fer-studio[ray]'``)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def within_import_roots(candidate: str | Path, s: Settings | None = None) -> bool:
    """True when ``candidate`` (after resolving links) lies inside one of the import roots."""
    s = s or load()
    target = Path(candidate).expanduser().resolve()
    for r in s.import_roots:
        base = Path(r).expanduser().resolve()
        if target == base or base in target.parents:
            return True
    return False
