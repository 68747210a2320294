"""Calibration: how far a model's confidence is from how often it is right, and temperature
scaling (Guo et al., 2017, "On calibration of modern neural networks") to bring them together.

Temperature scaling divides the log-probabilities by one scalar T before the softmax: the
predicted class never changes (accuracy and F1 stay as they are), only the confidence. T is
fitted by minimising the negative log-likelihood on a validation split (FER2013's PublicTest),
never on the test split it is then judged on. A model carries it in model.json's
``calibration`` block; ``fer.models.predict`` applies it with either runtime.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

BINS = 15  # equal-width confidence bins, as the Evaluate page draws them
LOG_T_RANGE = (math.log(0.05), math.log(20.0))


def reliability(labels: np.ndarray, probs: np.ndarray, bins: int = BINS) -> tuple[float, pd.DataFrame]:
    """Expected calibration error of the top-class confidence (``bins`` equal-width bins), and
    the reliability table (per bin: images, mean confidence, accuracy)."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(1)
    correct = (probs.argmax(1) == np.asarray(labels)).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        m = which == b
        if not m.any():
            continue
        acc, avg = correct[m].mean(), conf[m].mean()
        ece += m.mean() * abs(acc - avg)
        rows.append({"bin": b, "low": edges[b], "high": edges[b + 1], "n": int(m.sum()), "confidence": avg,
                     "accuracy": acc})
    return float(ece), pd.DataFrame(rows)


def scaled(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` in float64 (what ``fer.models.scale`` computes in torch)."""
    z = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, None)) / temperature
    z -= z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def nll(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes."""
    p = np.asarray(probs, dtype=np.float64)[np.arange(len(labels)), np.asarray(labels)]
    return float(-np.log(np.clip(p, 1e-12, None)).mean())


def fit_temperature(labels: np.ndarray, probs: np.ndarray, steps: int = 80) -> float:
    """The T in [0.05, 20] with the lowest NLL of ``scaled(probs, T)``: a golden-section search on
    log T (the NLL is convex in 1/T), deterministic, to three significant digits."""
    if len(labels) == 0:
        raise ValueError("no images to fit a temperature on")
    loss = lambda log_t: nll(labels, scaled(probs, math.exp(log_t)))  # noqa: E731
    lo, hi = LOG_T_RANGE
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = loss(a), loss(b)
    for _ in range(steps):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = loss(b)
    return float(f"{math.exp((lo + hi) / 2):.3g}")


def fit(labels: np.ndarray, probs: np.ndarray) -> dict:
    """A model.json ``calibration`` block fitted on these (validation) predictions: the
    temperature, and NLL and ECE before and after on the same images."""
    t = fit_temperature(labels, probs)
    after = scaled(probs, t)
    return {"method": "temperature scaling", "temperature": t,
            "nll_before": round(nll(labels, probs), 4), "nll_after": round(nll(labels, after), 4),
            "ece_before": round(reliability(labels, probs)[0], 4), "ece_after": round(reliability(labels, after)[0], 4),
            "bins": BINS}
