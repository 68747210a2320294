"""The model core every consumer stands on: backbones built by name (timm's registry, with
``fer_cnn`` and ``facenet_vggface2`` registered), the model folder (weights + model.json, no
pickle), input normalisation and the CAM target layer of each architecture; ``fer.models.onnx``
(an ONNX export checked against PyTorch, run by onnxruntime) and ``fer.models.model_zip`` (a model
as one zip, and its checked import) take models out of the app and back.

Names load on first use (PEP 562), so reading a model.json does not import torch; building a
model imports the registry, which registers our two backbones with timm.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "fer.models.registry": ("FaceNetClassifier", "ModelError", "build", "known"),
    "fer.models.fer_cnn": ("FerCNN",),
    "fer.models.folder": ("SHIPPED", "ModelNotFound", "checked_meta", "classes_ok", "environment", "git_commit", "load",
                          "read_meta", "save", "unwrap", "write_meta"),
    "fer.models.inputs": ("crop_input", "norm_tensors", "normalisation", "predict", "scale", "served", "temperature",
                          "to_input", "tta_flip"),
    "fer.models.cam": ("target_layer",),
    "fer.models.device": ("pick_device",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'fer.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
