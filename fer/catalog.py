"""Named models as people compare them: every version of every name with its source run, date and
figures (test accuracy, and the leak-free accuracy on the test images without a copy in the
training split), which one is current, and what a promotion onto a name would replace.

The Models view on the Runs page and ``python -m fer model list`` read the same rows from here;
changing anything is ``fer.store.promote`` and ``Model.restore``. This module only reads.
"""
from __future__ import annotations

from fer.store import DEFAULT, Dataset, Model, ModelNotFound, ModelVersion, NotFound, Run

# leak-free figures by (evaluated files' version, dataset versions): the copies a promotion makes of
# an evaluation keep their files' size and mtime, so every version of one run shares one entry.
_LEAK_FREE: dict[tuple, dict | None] = {}


def _test_summary(version: ModelVersion, dataset: str | None) -> dict:
    """The version's test figures: what it records, else its evaluation on its dataset's test split."""
    test = dict(version.figures().get("test") or {})
    if "accuracy" in test or not dataset:
        return test
    try:
        return version.evaluation(f"{dataset}/test").summary()
    except ValueError:  # no such evaluation, or a dataset name the store refuses
        return {}


def leak_free(version: ModelVersion, dataset: str | None) -> dict | None:
    """Figures on the test images of ``dataset`` without a byte-identical or near copy in its training
    split: what the model's metrics record (the shipped model's do), else computed from its
    evaluation when the dataset is in this store; None when neither is possible."""
    recorded = ((version.meta().get("metrics") or {}).get("test_leak_free") or {})
    if "accuracy" in recorded:
        return recorded
    if not dataset:
        return None
    try:
        ev = version.evaluation(f"{dataset}/test")
        key = (ev.stamp[1:], Dataset.open(dataset).stamp)
    except ValueError:
        return None
    if key not in _LEAK_FREE:
        from fer import evaluation  # scikit-learn and the near-duplicate search: only when asked

        if len(_LEAK_FREE) > 64:
            _LEAK_FREE.clear()
        try:
            _LEAK_FREE[key] = evaluation.leak_free(ev.predictions(), dataset, dataset)
        except (KeyError, OSError, ValueError):  # the manifest changed since the evaluation
            _LEAK_FREE[key] = None
    found = _LEAK_FREE[key]
    return found if found and found.get("n") else None


def describe(version: ModelVersion) -> dict:
    """One version as the Models view, the promotion check and ``model list`` show it."""
    figures = version.figures()
    dataset = figures.get("dataset") or (version.meta().get("data") or {}).get("dataset")
    test = _test_summary(version, dataset)
    clean = leak_free(version, dataset)
    return {"ref": version.ref, "name": version.name, "version": version.version, "kind": version.kind,
            "source_run": version.source_run, "created": version.created, "dataset": dataset,
            "test_accuracy": test.get("accuracy"), "test_macro_f1": test.get("macro_f1"),
            "leak_free_accuracy": clean.get("accuracy") if clean else None,
            "architecture": version.meta().get("architecture"), "sha256": version.sha256(),
            "folder": str(version.folder)}


def rows() -> list[dict]:
    """Every version of every named model (``default`` first, its ``shipped`` version included),
    oldest first within a name, with ``current`` set on the one in use."""
    out = []
    for m in Model.list():
        current = m.current_id()
        for v in m.versions():
            out.append({**describe(v), "current": v.version == current})
    return out


def replaced_by_promotion(name: str) -> ModelVersion | None:
    """The version that promoting a run onto ``name`` would replace as current (``default``'s
    shipped one included); None for a new name. The name is checked (``StoreError``)."""
    try:
        return Model.open(name).current()
    except ModelNotFound:
        return None


def promotion_check(run_id: str, name: str) -> dict:
    """What promoting ``run_id`` onto ``name`` means: the run's figures (``incoming``), the version
    it would replace (``replaced``, None for a new name) and the version number it would get."""
    run = Run.open(run_id)
    incoming = describe(run.model())
    replaced = replaced_by_promotion(name)
    stored = [int(v.version) for v in Model(name).versions() if v.version and v.version.isdigit()]
    return {"incoming": incoming, "replaced": describe(replaced) if replaced else None,
            "new_version": f"{name}@{max(stored, default=0) + 1}"}


def shipped() -> ModelVersion | None:
    """The model inside the package (``default@shipped``), when the package has one."""
    try:
        return Model.open(DEFAULT).version("shipped")
    except NotFound:
        return None
