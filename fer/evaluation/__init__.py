"""Evaluation in one place: metrics from probabilities, writing an evaluation of a model version
on a dataset split (``fer.store.Evaluation`` is where it lives), and reading evaluations honestly (PR curves, calibration, breakdowns, leak-free
figures, mistakes, label-noise candidates).

``summary``, the readers and the analyses load with the package (numpy, pandas); running a model
(``evaluate_model``, ``write_evaluation``) loads torch on first use.
"""
from __future__ import annotations

import importlib

from fer.evaluation.analysis import (  # noqa: F401
    PROB_COLUMNS, breakdown, calibration, label_issues, leak_free, leaked, mistakes, pr_curves, probs,
)
from fer.evaluation.metrics import summary  # noqa: F401

_LAZY = {"SPLIT_CHOICES", "evaluate_model", "write_evaluation"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'fer.evaluation' has no attribute {name!r}")
    value = getattr(importlib.import_module("fer.evaluation.evaluate"), name)
    globals()[name] = value
    return value
