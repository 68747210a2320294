"""Evaluations: a model on a dataset's split, as a job (the Evaluate page) or here (the command
line); either writes the evaluation into the store beside the model."""
from __future__ import annotations

from fer.actions.core import Entry, action
from fer.jobs import launch


def _target(model: str, dataset: str, split: str = "test", *a, **k) -> str:
    return f"{model} on {dataset}/{split}"


@action("evaluation.start", "evaluate models", _target)
def evaluate(entry: Entry, model: str, dataset: str, split: str = "test", flip: bool = False,
             device: str | None = None, here: bool = False):
    """Queued as a job (returns its folder), or here in the foreground (``here``: returns the
    summary and the folder written)."""
    entry.detail = {"model": model, "dataset": dataset, "split": split, "flip": flip}
    if not here:
        folder = launch.evaluate(model, dataset, split, flip=flip, device=device)
        entry.detail["job"] = folder.name
        return folder
    from fer.evaluation import evaluate_model  # torch: only to evaluate here

    summary, out = evaluate_model(model, dataset, split, device=device or "cpu", flip=flip)
    entry.detail["accuracy"] = summary.get("accuracy")
    return summary, out
