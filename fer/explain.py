"""Grad-CAM and its relatives (pytorch-grad-cam) for any model FER Studio builds.

``explain(model, architecture, crop, method, target)`` → a heatmap in [0, 1] at the crop's size.
The target layer is resolved per architecture (or given by its module name); every call opens
and closes the CAM object, so no hook outlives it. pytorch-grad-cam is imported here only, when
an explanation is asked for.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

METHODS = ("GradCAM", "GradCAM++", "XGradCAM", "EigenCAM", "LayerCAM", "HiResCAM", "ScoreCAM")
SLOW = {"ScoreCAM": "ScoreCAM runs the model once per channel of the layer: seconds to minutes per image"}


def _cam_class(method: str):
    import pytorch_grad_cam as pgc

    table = {"GradCAM": pgc.GradCAM, "GradCAM++": pgc.GradCAMPlusPlus, "XGradCAM": pgc.XGradCAM,
             "EigenCAM": pgc.EigenCAM, "LayerCAM": pgc.LayerCAM, "HiResCAM": pgc.HiResCAM, "ScoreCAM": pgc.ScoreCAM}
    if method not in table:
        raise ValueError(f"method {method!r}: use one of {', '.join(METHODS)}")
    return table[method]


def _vit_reshape(model: nn.Module):
    prefix = getattr(model, "num_prefix_tokens", 1)

    def reshape(tokens: torch.Tensor) -> torch.Tensor:
        x = tokens[:, prefix:, :]
        side = int(round(x.shape[1] ** 0.5))
        return x.reshape(x.shape[0], side, side, x.shape[2]).permute(0, 3, 1, 2)

    return reshape


def target_layer(model: nn.Module, architecture: str, override: str | None = None):
    """(layer, reshape_transform) for an architecture; ``override`` names any module."""
    if override:
        modules = dict(model.named_modules())
        if override not in modules:
            raise ValueError(f"no module {override!r} in {architecture}")
        return modules[override], (_vit_reshape(model) if "vit" in architecture else None)
    a = architecture.lower()
    if a.startswith("vit") or a.startswith("deit"):
        return model.blocks[-1].norm1, _vit_reshape(model)
    if a.startswith("convnext") or a == "fer_cnn":
        return model.stages[-1], None
    if a.startswith(("resnet", "resnext", "seresnet", "wide_resnet")):
        return model.layer4[-1], None
    if a.startswith(("efficientnet", "mobilenet", "tf_efficientnet", "mnasnet")):
        return model.blocks[-1], None
    if a.startswith("vgg"):
        return model.features[-2], None  # the last ReLU before the final pooling
    if a == "facenet_vggface2":
        return model.backbone.block8, None
    info = getattr(model, "feature_info", None)
    if info:  # any other timm model: the end of its last stage
        return dict(model.named_modules())[info[-1]["module"]], None
    raise ValueError(f"no target layer known for {architecture}: name one")


def to_input(crop: np.ndarray, meta: dict) -> torch.Tensor:
    """A uint8 crop (H×W or H×W×C) normalised as model.json says, 1×C×H×W."""
    from fer.training.engine import to_input as batch_input

    batch = torch.from_numpy(np.array(crop, dtype=np.uint8).reshape(crop.shape[0], crop.shape[1], -1)[None])
    mean = torch.tensor(meta["normalisation"]["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(meta["normalisation"]["std"]).view(1, -1, 1, 1)
    return batch_input(batch, mean, std, channels_last=False)


def explain(model: nn.Module, meta: dict, crop: np.ndarray, method: str = "GradCAM", target: int | None = None,
            layer: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(heatmap H×W float32 in [0, 1], class probabilities) for one crop; ``target`` None is the
    predicted class."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model.eval()
    x = to_input(crop, meta)
    with torch.no_grad():
        p = torch.softmax(model(x), dim=1)[0].numpy()
    t = int(p.argmax()) if target is None else int(target)
    layer_module, reshape = target_layer(model, meta["architecture"], layer)
    with _cam_class(method)(model=model, target_layers=[layer_module], reshape_transform=reshape) as cam:
        heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(t)])[0]
    heat = np.nan_to_num(heat.astype(np.float32))
    return np.clip(heat, 0, 1), p


def overlay(crop: np.ndarray, heat: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """The heatmap (jet) over the crop, uint8 RGB."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    rgb = crop if crop.ndim == 3 and crop.shape[2] == 3 else np.repeat(crop.reshape(*crop.shape[:2], 1), 3, axis=2)
    return show_cam_on_image(rgb.astype(np.float32) / 255, heat, use_rgb=True, image_weight=1 - opacity)


def heat_rgb(heat: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(cv2.applyColorMap(np.uint8(255 * heat), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
