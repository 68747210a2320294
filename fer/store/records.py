"""Typed records of the store: ``Dataset``, ``Run``, ``Job``, ``Model`` (a name with versions),
``ModelVersion`` and ``Evaluation``. Each has one way to list, open and read it.

Ids that come from users or query parameters (dataset, run, model and job names, versions,
evaluation and image ids) are checked here: a name is letters, digits, ``.``, ``_``, ``-`` (so no
``..`` and no absolute path), an opened folder must stay inside the store once links are
followed, and an unknown id is ``NotFound`` with one line that says so.

Each record's ``stamp`` is the version of the files it reads (size and mtime of each): cached
readers key on it, so they cannot serve what a job has since rewritten.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from fer.store import io, layout, locks

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
VERSION_RE = re.compile(r"^[0-9]{1,6}$")
IMAGE_ID_RE = re.compile(r"^[0-9a-f]{16}$")
SHIPPED_VERSION = "shipped"
SHIPPED_RE = re.compile(r"^shipped(-[0-9]{1,6})?$")  # the shipped default, or an earlier shipped one
DEFAULT = "default"
EVAL_SPLITS = ("test", "val", "train", "all")
STALE_SECONDS = 60
ACTIVE = ("queued", "running")
DONE = ("finished", "failed", "cancelled", "refused", "pruned")  # pruned: a sweep stopped it


class StoreError(ValueError):
    """Something the store cannot do or find: one line a user can act on."""


class NotFound(StoreError):
    pass


class ModelNotFound(NotFound):
    pass


class RunError(StoreError):
    pass


def check_name(name: str, what: str = "name") -> str:
    """Dataset, run and model names: letters, digits, ``.``, ``_``, ``-``; at most 64."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise StoreError(f"invalid name {name!r}" + (f" ({what})" if what != "name" else "")
                         + ": use letters, digits, '.', '_' or '-' (at most 64, not starting with a dot)")
    return name


def _leaves_store(path: Path) -> bool:
    real, root = Path(path).resolve(), layout.root().resolve()
    return real != root and root not in real.parents


def _inside(path: Path, what: str) -> Path:
    """``path`` with links followed, refused when that leaves the store."""
    if _leaves_store(path):
        raise NotFound(f"{what} leaves the store (a link to {Path(path).resolve()})")
    return Path(path)


def new_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _children(folder: Path) -> list[Path]:
    """Visible sub-folders (hidden ones are being built or deleted); a link out of the store is
    not one of them."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and not _leaves_store(p))


# -- datasets --------------------------------------------------------------------------------

_IMAGE_IDS: dict[tuple, dict[str, str]] = {}


@dataclass(frozen=True)
class Dataset:
    name: str

    @property
    def folder(self) -> Path:
        return layout.datasets_dir() / self.name

    @classmethod
    def list(cls) -> list["Dataset"]:
        return [cls(p.name) for p in _children(layout.datasets_dir()) if (p / layout.DATASET_INFO).exists()]

    @classmethod
    def open(cls, name: str) -> "Dataset":
        d = cls(check_name(name, "dataset name"))
        if not (d.folder / layout.DATASET_INFO).is_file():
            raise NotFound(f"no dataset named {name!r} in {layout.datasets_dir()}")
        _inside(d.folder, f"dataset {name!r}")
        return d

    @classmethod
    def exists(cls, name: str) -> bool:
        return (layout.datasets_dir() / check_name(name, "dataset name") / layout.DATASET_INFO).exists()

    # files
    manifest_path = property(lambda self: self.folder / layout.MANIFEST)
    info_path = property(lambda self: self.folder / layout.DATASET_INFO)
    near_pairs_path = property(lambda self: self.folder / layout.NEAR_PAIRS)
    exclusions_path = property(lambda self: self.folder / layout.EXCLUSIONS)
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
        if not isinstance(image_id, str) or not IMAGE_ID_RE.match(image_id):
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


# -- jobs ------------------------------------------------------------------------------------

def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (finished, not yet reaped by its parent) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


HOST = socket.gethostname()


def _waiting_on_a_cluster(status: dict) -> bool:
    """Submitted to a cluster (``backend`` other than local) and not started there yet: no pid
    and no heartbeat of its own to judge; the jobs layer asks the cluster instead."""
    return status.get("backend", "local") != "local" and not status.get("pid")


@dataclass(frozen=True)
class Job:
    """A detached process's folder: ``jobs/<id>/`` (imports, alignments, evaluations) or a run."""
    folder: Path

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def is_run(self) -> bool:
        return (self.folder / layout.RUN).exists()

    @classmethod
    def list(cls) -> list["Job"]:
        """Every job: ``jobs/*`` and every run (runs started from the command line included)."""
        jobs = [cls(p) for p in _children(layout.jobs_dir()) if (p / layout.JOB).exists()]
        return jobs + [r.job for r in Run.list()]

    @classmethod
    def open(cls, job_id: str) -> "Job":
        check_name(job_id, "job id")
        for folder in (layout.jobs_dir() / job_id, layout.runs_dir() / job_id):
            if (folder / layout.JOB).exists() or (folder / layout.RUN).exists():
                return cls(_inside(folder, f"job {job_id!r}"))
        raise NotFound(f"no job {job_id!r} in {layout.root()}")

    @classmethod
    def new(cls) -> "Job":
        return cls(layout.jobs_dir() / new_id())

    @staticmethod
    def holds(path: Path) -> bool:
        """Whether ``path`` (resolved) is a file directly inside a job folder of this store."""
        return Path(path).resolve().parent.parent == layout.jobs_dir().resolve()

    @property
    def spec_path(self) -> Path:
        return self.folder / layout.JOB

    @property
    def log_path(self) -> Path:
        return self.folder / (layout.TRAIN_LOG if self.is_run else layout.JOB_LOG)

    def spec(self) -> dict:
        """job.json: ``{"kind", "args", "device", "created"}`` (an old store's has a ``command``)."""
        spec = io.read_json(self.spec_path, {})
        return spec if isinstance(spec, dict) else {}

    def write_spec(self, spec: dict) -> None:
        io.write_json(self.spec_path, spec)

    @property
    def kind(self) -> str | None:
        return self.spec().get("kind") or ("train" if self.is_run else None)

    @property
    def created(self) -> str:
        return self.spec().get("created") or (Run(self.folder).meta().get("created", "") if self.is_run else "")

    def raw_status(self) -> dict:
        s = io.read_json(self.folder / layout.STATUS, {})
        return s if isinstance(s, dict) else {}

    def status(self) -> dict:
        """status.json with the state a reader should believe: a running job whose process is
        gone is failed; so is one whose heartbeat is stale, unless a live process still holds the
        folder's writer lock (stopped or hung): that one stays running, with a message saying so."""
        s = self.raw_status()
        s.setdefault("state", "unknown")
        if s["state"] == "running" and not _waiting_on_a_cluster(s):
            silent = time.time() - float(s.get("heartbeat", 0) or 0)
            here = s.get("host") in (None, HOST)  # a pid means something on its own machine only
            if here and not _alive(s.get("pid")):
                s["state"] = "failed"
                s.setdefault("error", "the process stopped without a word (killed, crashed or the machine restarted)")
            elif silent > STALE_SECONDS:
                pid = locks.holder(self.folder)
                if pid is None:
                    s["state"] = "failed"
                    s.setdefault("error", f"no heartbeat for {silent:.0f} s and no process holds the job "
                                          "(killed, crashed or the machine restarted)")
                else:
                    s["message"] = (f"not responding: no heartbeat for {silent:.0f} s, but process "
                                    f"{pid or s.get('pid')} still holds the job (stopped or hung); Cancel stops it")
        return s

    def request_stop(self) -> None:
        """Ask the job's process to stop through its folder (its heartbeat reads this), which
        works wherever the process runs as long as it sees the store."""
        io.write_text(self.folder / layout.STOP_REQUEST, now())

    @property
    def stop_requested(self) -> bool:
        return (self.folder / layout.STOP_REQUEST).exists()

    def clear_stop_request(self) -> None:
        (self.folder / layout.STOP_REQUEST).unlink(missing_ok=True)

    @property
    def writer(self) -> int | None:
        """The pid of the live process writing this folder (holding its writer lock), or None."""
        return locks.holder(self.folder)

    def write_status(self, **fields) -> dict:
        status = {**self.raw_status(), **fields}
        io.write_json(self.folder / layout.STATUS, status)
        return status

    @property
    def stamp(self) -> tuple:
        return io.file_version(self.folder / layout.STATUS, self.spec_path)


@contextmanager
def jobs_lock():
    """One scheduler at a time (several processes start and end jobs)."""
    layout.root().mkdir(parents=True, exist_ok=True)
    with open(layout.root() / layout.JOBS_LOCK, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# -- runs ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    folder: Path

    @property
    def id(self) -> str:
        return self.folder.name

    @classmethod
    def list(cls) -> list["Run"]:
        """Every run of the store, newest first (ids begin with their creation time)."""
        return [cls(p) for p in reversed(_children(layout.runs_dir())) if (p / layout.RUN).exists()]

    @classmethod
    def open(cls, run_id: str) -> "Run":
        check_name(run_id, "run id")
        f = layout.runs_dir() / run_id
        if not (f / layout.RUN).exists():
            raise RunError(f"no run {run_id!r} in {layout.runs_dir()}")
        return cls(_inside(f, f"run {run_id!r}"))

    @classmethod
    def create(cls, config: dict, tags: dict | None = None) -> "Run":
        """A new run folder: immutable id, display name, the resolved config, state queued;
        ``tags`` say where it comes from (a sweep's trial: ``{"study": NAME, "trial": N}``)."""
        run_id = new_id()
        f = layout.runs_dir() / run_id
        f.mkdir(parents=True)
        name = config.get("name") or f"{config['model']['backbone']} on {config['dataset']}"
        io.write_json(f / layout.RUN, {"id": run_id, "name": name, "created": now(), "dataset": config["dataset"],
                                       "tags": dict(tags or {})})
        io.write_text(f / layout.CONFIG, yaml.safe_dump(config, sort_keys=False))
        run = cls(f)
        run.job.write_status(state="queued", queued=now())
        return run

    checkpoint_path = property(lambda self: self.folder / layout.CHECKPOINT)
    previous_checkpoint_path = property(lambda self: self.folder / layout.CHECKPOINT_PREVIOUS)
    model_files = property(lambda self: (self.folder / layout.WEIGHTS, self.folder / layout.MODEL_META))
    eval_dir = property(lambda self: self.folder / layout.EVAL)
    config_path = property(lambda self: self.folder / layout.CONFIG)
    log_path = property(lambda self: self.folder / layout.TRAIN_LOG)
    metrics_path = property(lambda self: self.folder / layout.METRICS)

    def meta(self) -> dict:
        m = io.read_json(self.folder / layout.RUN, {})
        return m if isinstance(m, dict) else {}

    @property
    def name(self) -> str:
        return self.meta().get("name") or self.id

    @property
    def dataset(self) -> str | None:
        return self.meta().get("dataset")

    @property
    def tags(self) -> dict:
        tags = self.meta().get("tags")
        return tags if isinstance(tags, dict) else {}  # runs made before tags had a list

    def set_name(self, name: str) -> None:
        """The display name (the id never changes)."""
        if not name.strip():
            raise RunError("a run's name cannot be empty")
        io.write_json(self.folder / layout.RUN, {**self.meta(), "name": name.strip()})

    def config(self) -> dict:
        return yaml.safe_load(self.config_path.read_text("utf-8"))

    def write_config(self, config: dict) -> None:
        io.write_text(self.config_path, yaml.safe_dump(config, sort_keys=False))

    @property
    def job(self) -> Job:
        return Job(self.folder)

    def status(self) -> dict:
        return self.job.status()

    @property
    def state(self) -> str:
        return self.status()["state"]

    def metrics(self) -> list[dict]:
        """The records of metrics.jsonl. A line that is not one JSON object (torn by a process
        killed mid-write, or damaged: not UTF-8, a bare number or list) is skipped."""
        try:
            raw = self.metrics_path.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for line in raw.splitlines():
            try:
                record = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def epochs(self) -> pd.DataFrame:
        return pd.DataFrame([m for m in self.metrics() if m.get("kind") == "epoch"])

    def append_metrics(self, record: dict) -> None:
        io.append_line(self.metrics_path, json.dumps(record))

    @property
    def has_weights(self) -> bool:
        return (self.folder / layout.WEIGHTS).exists() and (self.folder / layout.MODEL_META).exists()

    def model(self) -> "ModelVersion":
        if not self.has_weights:
            raise ModelNotFound(f"run {self.id} has no weights yet")
        return ModelVersion("run", self.id, None, self.folder)

    def delete(self) -> None:
        state = self.state
        if state in ACTIVE:
            raise RunError(f"run {self.id} is {state}: cancel it first")
        io.remove_folder(self.folder)

    @property
    def stamp(self) -> tuple:
        return io.file_version(self.folder / layout.RUN, self.folder / layout.STATUS, self.metrics_path,
                               self.folder / layout.MODEL_META)


# -- models ----------------------------------------------------------------------------------

_SHA256: dict[tuple, str] = {}


def _sha256(path: Path) -> str:
    key = (str(path), io.file_version(path))
    if key not in _SHA256:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _SHA256[key] = h.hexdigest()
    return _SHA256[key]


def _has_model_files(folder: Path) -> bool:
    return (folder / layout.WEIGHTS).is_file() and (folder / layout.MODEL_META).is_file()


@dataclass(frozen=True)
class ModelVersion:
    """One set of weights: a run, a version of a named model, the shipped model or a folder."""
    kind: str  # "run" | "version" | "shipped" | "folder"
    name: str  # the run id, the model's name ("default" for the shipped one) or the folder
    version: str | None  # the version of a named model, "shipped", or None
    folder: Path

    @property
    def ref(self) -> str:
        """What ``resolve_model`` takes to give exactly this model back."""
        return f"{self.name}@{self.version}" if self.version else self.name

    @property
    def label(self) -> str:
        return {"run": f"run {self.name}", "folder": f"folder {self.name}"}.get(self.kind, self.ref)

    def meta(self) -> dict:
        return json.loads((self.folder / layout.MODEL_META).read_text("utf-8"))

    def info(self) -> dict:
        """version.json of a named model's version: source run, created, sha256, figures."""
        return io.read_json(self.folder / layout.VERSION_INFO, {}) or {}

    def sha256(self) -> str:
        return _sha256(self.folder / layout.WEIGHTS)

    def identity(self) -> dict:
        return {"name": self.name, "version": self.version, "sha256": self.sha256()}

    @property
    def source_run(self) -> str | None:
        if self.kind == "run":
            return self.name
        return self.info().get("source_run") or self.meta().get("source_run")

    @property
    def created(self) -> str | None:
        if self.kind == "version":
            return self.info().get("created")
        return self.meta().get("created")

    def figures(self) -> dict:
        return self.info().get("figures") or figures_of(self.meta())

    @property
    def eval_root(self) -> Path:
        """Where this model's evaluations live: inside its run or version folder, or, for a
        model outside the store, ``evals/<kind>-<sha256 prefix>[-flip]/`` (a new shipped model gets new
        ones; the same weights with flip test-time augmentation predict otherwise, so get their own)."""
        if self.kind in ("run", "version"):
            return self.folder / layout.EVAL
        flip = "-flip" if (self.meta().get("tta") or {}).get("flip") else ""
        return layout.evals_dir() / f"{self.kind}-{self.sha256()[:12]}{flip}"

    def evaluations(self) -> list["Evaluation"]:
        root = self.eval_root
        found = sorted(p.parent for p in root.glob(f"*/*/{layout.SUMMARY}")) if root.is_dir() else []
        return [Evaluation(self, p.parent.name, p.name, p) for p in found]

    def evaluation(self, eval_id: str) -> "Evaluation":
        dataset, split = Evaluation.parse_id(eval_id)
        ev = Evaluation(self, dataset, split, self.eval_root / dataset / split)
        if not (ev.folder / layout.SUMMARY).exists():
            raise NotFound(f"{self.ref} has no evaluation {ev.id}")
        return ev

    @property
    def stamp(self) -> tuple:
        return (str(self.folder), *io.file_version(self.folder / layout.WEIGHTS, self.folder / layout.MODEL_META))


def figures_of(meta: dict) -> dict:
    """The figures a model.json carries: training dataset, best epoch, val and test summaries."""
    m = meta.get("metrics") or {}
    short = ("n", "accuracy", "macro_f1")
    return {"dataset": (meta.get("data") or {}).get("dataset"), "best_epoch": m.get("best_epoch"),
            **{split: {k: m[split][k] for k in short if k in m[split]} for split in ("val", "test")
               if isinstance(m.get(split), dict)}}


@contextmanager
def _models_lock():
    layout.models_dir().mkdir(parents=True, exist_ok=True)
    with open(layout.models_dir() / layout.MODELS_LOCK, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Model:
    """A named model: its versions (every promotion adds one) and which one is current.
    ``default`` also has the version ``shipped``: the model inside the package."""
    name: str

    @property
    def folder(self) -> Path:
        return layout.models_dir() / self.name

    @classmethod
    def list(cls) -> list["Model"]:
        """``default`` first (it always exists: the shipped model), then every named model."""
        named = [cls(p.name) for p in _children(layout.models_dir()) if p.name != DEFAULT
                 and ((p / layout.CURRENT).exists() or (p / layout.VERSIONS).is_dir() or _has_model_files(p))]
        return ([cls(DEFAULT)] if cls(DEFAULT).versions() else []) + named

    @classmethod
    def open(cls, name: str) -> "Model":
        m = cls(check_name(name, "model name"))
        if m.folder.exists():
            _inside(m.folder, f"model {name!r}")
        if not m.versions():
            raise ModelNotFound(f"no model named {name!r} in {layout.models_dir()}")
        return m

    @property
    def _legacy(self) -> bool:
        """A folder promoted before models had versions: one model folder, read as version 1."""
        return _has_model_files(self.folder)

    def _stored(self) -> list[ModelVersion]:
        if self._legacy:
            return [ModelVersion("version", self.name, "1", self.folder)]
        vdir = self.folder / layout.VERSIONS
        found = [p for p in _children(vdir) if VERSION_RE.match(p.name) and _has_model_files(p)]
        return [ModelVersion("version", self.name, p.name, p) for p in sorted(found, key=lambda p: int(p.name))]

    def _shipped(self) -> list[ModelVersion]:
        """``default``'s models inside the package: the earlier shipped ones (``shipped-<tag>``,
        kept so that a user can go back to them), then the one shipped now (``shipped``)."""
        if self.name != DEFAULT:
            return []
        earlier = [ModelVersion("shipped", DEFAULT, f"{SHIPPED_VERSION}-{p.name}", p)
                   for p in (layout.EARLIER_SHIPPED.iterdir() if layout.EARLIER_SHIPPED.is_dir() else ())
                   if VERSION_RE.match(p.name) and _has_model_files(p)]
        now = [ModelVersion("shipped", DEFAULT, SHIPPED_VERSION, layout.SHIPPED)] if _has_model_files(layout.SHIPPED) else []
        return sorted(earlier, key=lambda v: int(v.version.split("-")[1])) + now

    def versions(self) -> list[ModelVersion]:
        """Oldest first; ``default`` lists ``shipped`` before the store's versions."""
        return self._shipped() + self._stored()

    def _pointer(self) -> dict:
        p = io.read_json(self.folder / layout.CURRENT, {})
        return p if isinstance(p, dict) else {}

    def current_id(self) -> str | None:
        """The current version: what ``current.json`` names, else the newest stored version,
        else (for ``default``) ``shipped``."""
        ids = [v.version for v in self.versions()]
        named = str(self._pointer().get("current")) if self._pointer().get("current") is not None else None
        if named in ids:
            return named
        stored = [v.version for v in self._stored()]
        if stored:
            return stored[-1]
        return SHIPPED_VERSION if SHIPPED_VERSION in ids else (ids[-1] if ids else None)

    def previous_id(self) -> str | None:
        prev = self._pointer().get("previous")
        if prev is None and self.name == DEFAULT and self.current_id() not in (None, SHIPPED_VERSION):
            first = self._stored()[0].version if self._stored() else None
            prev = SHIPPED_VERSION if self.current_id() == first else None
        return str(prev) if prev is not None else None

    def version(self, version: str) -> ModelVersion:
        version = str(version)
        if not (VERSION_RE.match(version) or SHIPPED_RE.match(version)):
            raise ModelNotFound(f"invalid version {version!r} of model {self.name!r}: a number, or 'shipped' "
                                "(or 'shipped-N', an earlier one) for the default")
        for v in self.versions():
            if v.version == version:
                return v
        have = ", ".join(v.version for v in self.versions()) or "none"
        raise ModelNotFound(f"model {self.name!r} has no version {version!r} (versions: {have})")

    def current(self) -> ModelVersion:
        cur = self.current_id()
        if cur is None:
            raise ModelNotFound(f"model {self.name!r} has no version")
        return self.version(cur)

    def _set_current(self, version: str, previous: str | None) -> None:
        io.write_json(self.folder / layout.CURRENT, {"current": version, "previous": previous, "changed": now()})

    def _unlegacy(self) -> None:
        """Rewrite a pre-versions folder as ``versions/1`` (one atomic swap), before any change."""
        if not self._legacy:
            return
        new = io.new_folder_beside(self.folder)
        shutil.copytree(self.folder, new / layout.VERSIONS / "1")
        legacy_source = io.read_json(self.folder / layout.LEGACY_SOURCE, {}) or {}
        io.write_json(new / layout.VERSIONS / "1" / layout.VERSION_INFO, {
            "version": "1", "source_run": legacy_source.get("run"), "created": legacy_source.get("promoted"),
            "sha256": _sha256(self.folder / layout.WEIGHTS), "figures": figures_of(self.current().meta())})
        io.write_json(new / layout.CURRENT, {"current": "1", "previous": None, "changed": now()})
        io.replace_folder(new, self.folder)

    def restore(self, version: str | None = None) -> ModelVersion:
        """Make ``version`` current (None: the previously current one); the one it replaces
        becomes the previous."""
        target = str(version) if version is not None else self.previous_id()
        if target is None:
            raise ModelNotFound(f"model {self.name!r} has no earlier version to restore")
        self.version(target)  # refused before anything is written, the lock file included
        with _models_lock():
            cur = self.current_id()
            chosen = self.version(target)
            if target != cur:
                self._unlegacy()
                self._set_current(target, cur)
            return chosen


def promote(run_id: str, name: str) -> ModelVersion:
    """A run's weights (with model.json, config, card and evaluations) become a new version of
    the model ``name``, and its current one; the version it replaces stays. Every promotion adds
    a version, even of the same run."""
    run = Run.open(run_id)
    check_name(name, "model name")
    if not run.has_weights:
        raise RunError(f"run {run_id} has no weights yet")

    def copy(new: Path) -> None:
        for f in layout.MODEL_FILES:
            if (run.folder / f).exists():
                shutil.copy2(run.folder / f, new / f)
        if (run.folder / layout.EVAL).is_dir():
            shutil.copytree(run.folder / layout.EVAL, new / layout.EVAL)

    return add_version(name, copy, {"source_run": run.id}, lambda: _run_figures(run))


def add_version(name: str, fill, source: dict, figures=None) -> ModelVersion:
    """A new version of the model ``name``, made current (the one it replaces stays): ``fill(folder)``
    writes its files (weights and model.json at least) into a fresh folder that is swapped in
    whole; ``source`` (where it came from) goes into version.json with its sha256 and figures
    (``figures()``, else those its model.json carries). A promotion and an imported zip both
    come this way."""
    check_name(name, "model name")
    model = Model(name)
    if model.folder.exists():
        _inside(model.folder, f"model {name!r}")
    with _models_lock():
        model._unlegacy()
        previous = model.current_id()
        number = str(max([int(v.version) for v in model._stored()], default=0) + 1)
        target = model.folder / layout.VERSIONS / number
        new = io.new_folder_beside(target)
        try:
            fill(new)
            if not _has_model_files(new):
                raise StoreError(f"a version of {name!r} needs {layout.WEIGHTS} and {layout.MODEL_META}")
            figs = figures() if figures else figures_of(json.loads((new / layout.MODEL_META).read_text("utf-8")))
            io.write_json(new / layout.VERSION_INFO, {
                "version": number, "source_run": None, **source, "created": now(),
                "sha256": _sha256(new / layout.WEIGHTS), "figures": figs})
            io.replace_folder(new, target)
        except BaseException:
            io.remove_folder(new)
            raise
        model._set_current(number, previous)
    return model.version(number)


def _run_figures(run: Run) -> dict:
    out = figures_of(json.loads((run.folder / layout.MODEL_META).read_text("utf-8")))
    for split in ("val", "test"):  # an evaluation on the run's own dataset fills what model.json lacks
        summary = io.read_json(run.folder / layout.EVAL / str(run.dataset) / split / layout.SUMMARY, {}) or {}
        if split not in out and "accuracy" in summary:
            out[split] = {k: summary[k] for k in ("n", "accuracy", "macro_f1") if k in summary}
    return out


def resolve_model(x: str | Path, allow_paths: bool = True) -> ModelVersion:
    """The model ``x`` names: a model folder (when ``allow_paths``), ``NAME@VERSION``, a run id, a
    model name (its current version), or ``default`` (the store's current default, else the
    shipped model). Pages pass ids only (``allow_paths=False``)."""
    text = str(x).strip()
    if allow_paths:
        p = Path(text).expanduser()
        if p.exists():
            folder = p if p.is_dir() else p.parent
            if _has_model_files(folder):
                return ModelVersion("folder", str(folder.resolve()), None, folder.resolve())
    if "@" in text:
        name, version = text.rsplit("@", 1)
        return Model.open(name).version(version)
    if NAME_RE.match(text):
        run_folder = layout.runs_dir() / text
        if (run_folder / layout.RUN).exists() and _has_model_files(run_folder):
            return Run.open(text).model()
        try:
            return Model.open(text).current()
        except ModelNotFound:
            pass
    raise ModelNotFound(f"no model {text!r}: not " + ("a model folder, " if allow_paths else "")
                        + f"a finished run, a model in {layout.models_dir()}"
                        + (", nor shipped with FER Studio" if text == DEFAULT else ""))


# -- evaluations -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Evaluation:
    """One evaluation of one model version on a dataset's split."""
    model: ModelVersion
    dataset: str
    split: str
    folder: Path

    @property
    def id(self) -> str:
        return f"{self.dataset}/{self.split}"

    @property
    def label(self) -> str:
        return f"{self.dataset} / {self.split}"

    @staticmethod
    def parse_id(eval_id: str) -> tuple[str, str]:
        """``dataset/split`` (``dataset / split`` too, as older links wrote it), both checked."""
        parts = [p.strip() for p in str(eval_id).split("/")]
        if len(parts) != 2 or parts[1] not in EVAL_SPLITS:
            raise NotFound(f"invalid evaluation id {eval_id!r}: use DATASET/SPLIT (split: {', '.join(EVAL_SPLITS)})")
        return check_name(parts[0], "dataset name"), parts[1]

    @classmethod
    def for_model(cls, model: ModelVersion, dataset: str, split: str) -> "Evaluation":
        """Where an evaluation of ``model`` on ``dataset``/``split`` lives (written or not)."""
        if split not in EVAL_SPLITS:
            raise StoreError(f"split {split!r}: use one of {', '.join(EVAL_SPLITS)}")
        return cls(model, dataset, split, model.eval_root / check_name(dataset, "dataset name") / split)

    @classmethod
    def on_dataset(cls, dataset: str) -> list["Evaluation"]:
        """Every evaluation on ``dataset`` of every run and model version (and the shipped model)."""
        owners = [r.model() for r in Run.list() if r.has_weights]
        owners += [v for m in Model.list() for v in m.versions()]
        return [e for mv in owners for e in mv.evaluations() if e.dataset == dataset
                and (e.folder / layout.PREDICTIONS).exists()]

    def summary(self, flip: bool = False) -> dict:
        return io.read_json(self.folder / layout.evaluation_files(flip)[0], {}) or {}

    def predictions(self, flip: bool = False) -> pd.DataFrame:
        return pd.read_parquet(self.folder / layout.evaluation_files(flip)[1])

    @property
    def has_flip(self) -> bool:
        return (self.folder / layout.evaluation_files(True)[0]).exists()

    @property
    def stamp(self) -> tuple:
        return (str(self.folder), *io.file_version(*(self.folder / f for f in (*layout.evaluation_files(False),
                                                                                  *layout.evaluation_files(True)))))
