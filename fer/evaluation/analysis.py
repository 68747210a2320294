"""Reading evaluations honestly: PR curves, calibration, breakdowns and leak-free figures.

An evaluation (``fer.store.Evaluation``) holds a summary and the predictions per image (path,
split, source, label, prediction, p_<class>); these functions take the predictions table.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from fer.data import manifest
from fer.data.quality import near_pairs
from fer.evaluation import metrics
from fer.evaluation.temperature import BINS, reliability
from fer.labels import CLASSES

PROB_COLUMNS = [f"p_{c}" for c in CLASSES]


def probs(pred: pd.DataFrame) -> np.ndarray:
    return pred[PROB_COLUMNS].to_numpy(np.float64)


def pr_curves(pred: pd.DataFrame) -> dict[str, dict]:
    """One-vs-rest precision-recall curve and average precision per class (scikit-learn)."""
    from sklearn.metrics import average_precision_score, precision_recall_curve  # seconds to import

    out = {}
    p = probs(pred)
    for i, c in enumerate(CLASSES):
        y = (pred["label"].to_numpy() == i).astype(int)
        if y.sum() == 0:
            continue
        precision, recall, _ = precision_recall_curve(y, p[:, i])
        out[c] = {"precision": precision, "recall": recall, "ap": float(average_precision_score(y, p[:, i]))}
    return out


def calibration(pred: pd.DataFrame, bins: int = BINS) -> tuple[float, pd.DataFrame]:
    """Expected calibration error of the top-class confidence, and the reliability table."""
    return reliability(pred["label"].to_numpy(), probs(pred), bins)


def breakdown(pred: pd.DataFrame, by: str) -> pd.DataFrame:
    """Accuracy and macro-F1 per value of ``by`` (source or split)."""
    rows = []
    for value, part in pred.groupby(by, sort=True):
        s = metrics.summary(part["label"].to_numpy(), probs(part))
        rows.append({by: value, "n": s["n"], "accuracy": s["accuracy"], "macro_f1": s["macro_f1"]})
    return pd.DataFrame(rows)


def leaked(pred: pd.DataFrame, eval_dataset: str, train_dataset: str, max_distance: int = 4) -> np.ndarray:
    """True for evaluated images with a byte-identical or perceptually near copy (Hamming
    distance <= ``max_distance``) among the training split of ``train_dataset``."""
    ev = manifest(eval_dataset).set_index("path").loc[pred["path"], ["sha1", "phash"]].reset_index()
    tr = manifest(train_dataset)
    tr = tr[tr["split"] == "train"]
    if eval_dataset == train_dataset:  # the same image in both is not a copy of itself
        tr = tr[~tr["path"].isin(set(pred["path"]))]
    out = ev["sha1"].isin(set(tr["sha1"].dropna())).to_numpy().copy()
    hashes = pd.concat([ev["phash"], tr["phash"]], ignore_index=True).astype("UInt64")
    pairs = near_pairs(hashes, max_distance)
    n = len(ev)
    cross = pairs[(pairs["a"] < n) & (pairs["b"] >= n)]
    out[cross["a"].to_numpy()] = True
    return out


def leak_free(pred: pd.DataFrame, eval_dataset: str, train_dataset: str) -> dict:
    """The summary metrics on the evaluated images that have no copy in the training split."""
    mask = ~leaked(pred, eval_dataset, train_dataset)
    clean = pred[mask]
    s = metrics.summary(clean["label"].to_numpy(), probs(clean)) if len(clean) else {"n": 0}
    return {**s, "excluded": int((~mask).sum())}


def mistakes(pred: pd.DataFrame, true: list[str] | None = None, predicted: list[str] | None = None,
             confidence: tuple[float, float] = (0.0, 1.0), sources: list[str] | None = None,
             splits: list[str] | None = None, sort: str = "confidence", include_correct: bool = False) -> pd.DataFrame:
    """The misclassified rows matching every filter, with their confidence (of the predicted class),
    margin (over the runner-up) and top-3, most confident first (or smallest margin first)."""
    p = probs(pred)
    top = np.argsort(-p, axis=1)
    out = pred.assign(
        true=np.array(CLASSES, dtype=object)[pred["label"].to_numpy()],
        predicted=np.array(CLASSES, dtype=object)[pred["prediction"].to_numpy()],
        confidence=p[np.arange(len(p)), pred["prediction"].to_numpy()],
        margin=p[np.arange(len(p)), top[:, 0]] - p[np.arange(len(p)), top[:, 1]],
        top3=[", ".join(f"{CLASSES[j]} {p[i, j]:.0%}" for j in top[i, :3]) for i in range(len(p))],
    )
    keep = pd.Series(True, index=out.index) if include_correct else out["label"] != out["prediction"]
    if true:
        keep = keep & out["true"].isin(true)
    if predicted:
        keep = keep & out["predicted"].isin(predicted)
    keep = keep & out["confidence"].between(*confidence)
    if sources:
        keep = keep & out["source"].isin(sources)
    if splits:
        keep = keep & out["split"].isin(splits)
    out = out[keep]
    return out.sort_values("margin" if sort == "margin" else "confidence", ascending=sort == "margin", kind="stable")


def label_issues(pred: pd.DataFrame, min_confidence: float = 0.8) -> pd.DataFrame:
    """Label-noise candidates: images whose given label the model contradicts with at least
    ``min_confidence``, least probable given label first (self-confidence ranking)."""
    p = probs(pred)
    given = p[np.arange(len(p)), pred["label"].to_numpy()]
    top = p.max(1)
    out = pred.assign(given_label_p=given, predicted_p=top,
                      predicted=np.array(CLASSES, dtype=object)[p.argmax(1)])
    out = out[(out["prediction"] != out["label"]) & (out["predicted_p"] >= min_confidence)]
    return out.sort_values("given_label_p")
