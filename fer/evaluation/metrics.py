"""Classification metrics from probabilities, with scikit-learn doing the counting."""
from __future__ import annotations

import numpy as np

from fer.labels import CLASSES


def summary(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Accuracy, macro P/R/F1, top-3 accuracy, mean NLL, per-class report, confusion matrix."""
    # scikit-learn takes seconds to import: only when figures are computed
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    k = len(CLASSES)
    if len(labels) == 0:
        return {"n": 0}
    pred = probs.argmax(1)
    p, r, f, support = precision_recall_fscore_support(labels, pred, labels=range(k), zero_division=0)
    present = support > 0  # macro averages over the classes that occur
    top3 = np.argsort(-probs, axis=1)[:, :3]
    nll = -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0))
    return {
        "n": int(len(labels)),
        "accuracy": float(accuracy_score(labels, pred)),
        "macro_precision": float(p[present].mean()),
        "macro_recall": float(r[present].mean()),
        "macro_f1": float(f[present].mean()),
        "top3_accuracy": float((top3 == labels[:, None]).any(1).mean()),
        "loss": float(nll.mean()),
        "per_class": {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
                      for i, c in enumerate(CLASSES)},
        "confusion_matrix": confusion_matrix(labels, pred, labels=range(k)).tolist(),
    }
