"""Grad-CAM and its relatives (pytorch-grad-cam) for any model FER Studio builds.

``explain(model, architecture, crop, method, target)`` → a heatmap in [0, 1] at the crop's size.
The target layer is resolved per architecture (``fer.models.target_layer``) or given by its
module name; every call opens and closes the CAM object, so no hook outlives it. pytorch-grad-cam
takes seconds to import: it is imported inside the functions, when an explanation is asked for.

The model given is never touched: it may be one that every session shares (``st.cache_resource``)
while another thread classifies with it (Predict, Live), and Grad-CAM's hooks on it would catch
that other batch. The maps are computed on a private copy of it (made once per model and kept
while the model lives), one explanation at a time per copy; the shared model keeps serving.

A map is computed on one torch thread (this thread's setting, restored after): with torch's
default, a thread per core, every op waits for threads that other work keeps off the cores, and
on 2 cores beside one busy process the Explain page took 3.4 s instead of 0.7 (fer_cnn's
GradCAM: 15 ms on one thread, 770 ms on two at load 5, ``bench/explain.py``).
"""
from __future__ import annotations

import copy
import threading
import weakref
from contextlib import contextmanager

import cv2
import numpy as np
import torch
import torch.nn as nn

from fer.models import crop_input, target_layer  # noqa: F401  (target_layer: explain's own API too)

METHODS = ("GradCAM", "GradCAM++", "XGradCAM", "EigenCAM", "LayerCAM", "HiResCAM", "ScoreCAM")
SLOW = {"ScoreCAM": "ScoreCAM runs the model once per channel of the layer: seconds to minutes per image"}


def _cam_class(method: str):
    import pytorch_grad_cam as pgc  # seconds to import: only when a map is asked for

    table = {"GradCAM": pgc.GradCAM, "GradCAM++": pgc.GradCAMPlusPlus, "XGradCAM": pgc.XGradCAM,
             "EigenCAM": pgc.EigenCAM, "LayerCAM": pgc.LayerCAM, "HiResCAM": pgc.HiResCAM, "ScoreCAM": pgc.ScoreCAM}
    if method not in table:
        raise ValueError(f"method {method!r}: use one of {', '.join(METHODS)}")
    return table[method]


_copies: "weakref.WeakKeyDictionary[nn.Module, tuple[nn.Module, threading.Lock]]" = weakref.WeakKeyDictionary()
_copies_lock = threading.Lock()


def _private(model: nn.Module) -> tuple[nn.Module, threading.Lock]:
    """Grad-CAM's own copy of ``model`` (in eval mode) and the lock that lets one explanation at a
    time hook it; the copy lives as long as the model does."""
    with _copies_lock:
        if model not in _copies:
            _copies[model] = (copy.deepcopy(model).eval(), threading.Lock())
        return _copies[model]


@contextmanager
def one_thread():
    """torch on one thread in this thread for the block (OpenMP's setting is per thread)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def explain(model: nn.Module, meta: dict, crop: np.ndarray, method: str = "GradCAM", target: int | None = None,
            layer: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(heatmap H×W float32 in [0, 1], class probabilities) for one crop; ``target`` None is the
    predicted class. ``model`` itself is not changed (see above)."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # seconds, as above

    own, lock = _private(model)
    x = crop_input(crop, meta)
    with lock, one_thread():
        with torch.no_grad():
            p = torch.softmax(own(x), dim=1)[0].numpy()
        t = int(p.argmax()) if target is None else int(target)
        layer_module, reshape = target_layer(own, meta["architecture"], layer)
        layers = layer_module if isinstance(layer_module, list) else [layer_module]  # an ensemble: one a member
        with _cam_class(method)(model=own, target_layers=layers, reshape_transform=reshape) as cam:
            heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(t)])[0]
    heat = np.nan_to_num(heat.astype(np.float32))
    return np.clip(heat, 0, 1), p


def overlay(crop: np.ndarray, heat: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """The heatmap (jet) over the crop, uint8 RGB."""
    from pytorch_grad_cam.utils.image import show_cam_on_image  # seconds, as above

    rgb = crop if crop.ndim == 3 and crop.shape[2] == 3 else np.repeat(crop.reshape(*crop.shape[:2], 1), 3, axis=2)
    return show_cam_on_image(rgb.astype(np.float32) / 255, heat, use_rgb=True, image_weight=1 - opacity)


def heat_rgb(heat: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.applyColorMap(np.uint8(255 * heat), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
