"""Named models: promote a run, make a version current again, rename, delete, import a model zip,
and (from the command line) average models into an ensemble version or calibrate one."""
from __future__ import annotations

from pathlib import Path

from fer.actions.core import Entry, action
from fer.store import Model, ModelNotFound, promote as store_promote


def _current_ref(name: str) -> str | None:
    try:
        return Model.open(name).current().ref
    except (ModelNotFound, ValueError):
        return None


def promote_run(entry: Entry, run_id: str, name: str, **more):
    """The body of a promotion (Promote on Runs, Promote best of a sweep): the record names the
    run and ``NAME@VERSION``, and the version it replaced as current."""
    before = _current_ref(name)
    version = store_promote(run_id, name)
    entry.target = f"run {run_id} → {version.ref}"
    entry.detail = {"run": run_id, "model": version.ref, **more}
    entry.replaced = {"current": before}
    return version


@action("model.promote", "promote models", lambda run_id, name: f"run {run_id} → {name}")
def promote(entry: Entry, run_id: str, name: str):
    return promote_run(entry, run_id, name)


@action("model.restore", "make model versions current", lambda name, version=None: f"{name}@{version or 'previous'}")
def restore(entry: Entry, name: str, version: str | None = None):
    before = _current_ref(name)
    chosen = Model.open(name).restore(version)
    entry.target, entry.detail, entry.replaced = chosen.ref, {"model": chosen.ref}, {"current": before}
    return chosen


@action("model.rename", "rename models", lambda name, new: f"model {name} → {new}")
def rename(entry: Entry, name: str, new: str) -> Model:
    model = Model.open(name)
    entry.replaced = {"name": name, "versions": [v.version for v in model.versions()]}
    return model.change_name(new)


@action("model.delete", "delete models", lambda name: f"model {name}")
def delete(entry: Entry, name: str) -> None:
    """Every stored version of ``name`` goes; ``default`` then serves the shipped model again."""
    model = Model.open(name)
    entry.replaced = {"current": _current_ref(name),
                      "versions": {v.version: {"source_run": v.source_run, "sha256": v.sha256()}
                                   for v in model.versions() if v.kind == "version"}}
    model.delete()


def _zip(source, label: str | None = None) -> str:
    return label or ("a model zip" if isinstance(source, bytes) else Path(source).name)


@action("model.import", "import models", lambda source, name, label=None: f"{_zip(source, label)} → {name}")
def import_zip(entry: Entry, source, name: str, label: str | None = None):
    """A model zip, checked whole, becomes a new version of ``name`` and its current one."""
    from fer.models import model_zip  # torch: the weights are loaded to be checked

    before = _current_ref(name)
    version, contents = model_zip.import_zip(source, name, label=label)
    entry.target = f"{_zip(source, label)} → {version.ref}"
    entry.detail, entry.replaced = {"model": version.ref, "sha256": contents.sha256}, {"current": before}
    return version, contents


@action("model.ensemble", "add model versions",
        lambda name, members, flip=False, half=False: f"{len(members)} models → {name}")
def ensemble(entry: Entry, name: str, members: list[str], flip: bool = False, half: bool = False):
    from fer.models import ensemble as ens  # torch: the members are loaded to be checked

    before = _current_ref(name)
    version = ens.add_version(name, members, flip=flip, half=half)
    entry.target, entry.detail, entry.replaced = f"{len(members)} models → {version.ref}", \
        {"model": version.ref, "members": list(members), "flip": flip, "half": half}, {"current": before}
    return version


@action("model.calibrate", "add model versions",
        lambda model, dataset, split="val", flip=None, name=None: f"{model} → {name or model}")
def calibrate(entry: Entry, model: str, dataset: str, split: str = "val", flip: bool | None = None,
              name: str | None = None):
    from fer.evaluation import calibrate as cal  # torch: the model is run on the split

    target = name or model.split("@")[0]
    before = _current_ref(target)
    version = cal.add_version(model, dataset, split, flip, name)
    c = version.meta()["calibration"]
    entry.target, entry.replaced = f"{model} → {version.ref}", {"current": before}
    entry.detail = {"model": version.ref, "from": model, "dataset": dataset, "split": split,
                    "temperature": c["temperature"], "flip": c["fitted_on"]["flip"]}
    return version
