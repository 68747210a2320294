"""Models of the store: one set of weights (``ModelVersion``: a run, a version of a named model,
the shipped model or a folder), named models with their versions (``Model``: every promotion
adds one, one is current, any can be made current again; ``default`` also has the models
shipped inside the package), promotion, and ``resolve_model``, which turns what a user types
into one version."""
from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from fer.store import io, layout, locks
from fer.store.evaluations import Evaluation
from fer.store.names import (
    NAME_RE, VERSION_RE, ModelNotFound, NotFound, RunError, StoreError, check_name, children, inside, now,
)
from fer.store.runs import Run

META_MAX_BYTES = 1 << 20  # a model.json is a few kB (an ensemble's, with its members' figures, tens)
META_MAX_DEPTH = 16  # its deepest real nesting is 5 (an ensemble member's training config)
SHIPPED_VERSION = "shipped"
SHIPPED_RE = re.compile(r"shipped(-[0-9]{1,6})?")  # the shipped default, or an earlier shipped one
DEFAULT = "default"

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


def read_model_meta(folder: Path) -> dict:
    """A model folder's model.json, bounded in size and nesting before it is parsed (anyone may
    have written it); ``ValueError`` when it is too large, too deep or not JSON."""
    return io.loads_bounded((Path(folder) / layout.MODEL_META).read_bytes(), META_MAX_BYTES, META_MAX_DEPTH,
                            layout.MODEL_META)


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
        return read_model_meta(self.folder)

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


def _models_lock():
    """One change of model versions at a time (promotions, imports, restores)."""
    return locks.held(layout.models_dir() / layout.MODELS_LOCK)


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
        named = [cls(p.name) for p in children(layout.models_dir()) if p.name != DEFAULT
                 and ((p / layout.CURRENT).exists() or (p / layout.VERSIONS).is_dir() or _has_model_files(p))]
        return ([cls(DEFAULT)] if cls(DEFAULT).versions() else []) + named

    @classmethod
    def open(cls, name: str) -> "Model":
        m = cls(check_name(name, "model name"))
        if m.folder.exists():
            inside(m.folder, f"model {name!r}")
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
        found = [p for p in children(vdir) if VERSION_RE.fullmatch(p.name) and _has_model_files(p)]
        return [ModelVersion("version", self.name, p.name, p) for p in sorted(found, key=lambda p: int(p.name))]

    def _shipped(self) -> list[ModelVersion]:
        """``default``'s models inside the package: the earlier shipped ones (``shipped-<tag>``,
        kept so that a user can go back to them), then the one shipped now (``shipped``)."""
        if self.name != DEFAULT:
            return []
        earlier = [ModelVersion("shipped", DEFAULT, f"{SHIPPED_VERSION}-{p.name}", p)
                   for p in (layout.EARLIER_SHIPPED.iterdir() if layout.EARLIER_SHIPPED.is_dir() else ())
                   if VERSION_RE.fullmatch(p.name) and _has_model_files(p)]
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
        if not (VERSION_RE.fullmatch(version) or SHIPPED_RE.fullmatch(version)):
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

    def change_name(self, new: str) -> "Model":
        """The name and all its versions under ``new`` (a name not in use); ``default`` keeps its name."""
        check_name(new, "model name")
        if DEFAULT in (self.name, new):
            raise StoreError(f"{DEFAULT!r} cannot be renamed, nor be a new name: promote a version onto it instead")
        with _models_lock():
            if Model(new).folder.exists():
                raise StoreError(f"a model named {new!r} exists already")
            io.move_folder(self.folder, Model(new).folder)
        return Model(new)

    def delete(self) -> None:
        """Every stored version of this name goes (``default`` then serves the shipped model)."""
        if not self._stored():
            raise StoreError(f"model {self.name!r} has no stored version to delete (the shipped ones stay)")
        with _models_lock():
            io.remove_folder(self.folder)

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
        inside(model.folder, f"model {name!r}")
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
            figs = figures() if figures else figures_of(read_model_meta(new))
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
    out = figures_of(read_model_meta(run.folder))
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
    if NAME_RE.fullmatch(text):
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
