"""Which layer a class-activation map (Grad-CAM and relatives) looks at, per architecture.

Target layers: timm ConvNeXt ``stages[-1]``, ResNet ``layer4[-1]``, ViT ``blocks[-1].norm1`` with
its tokens reshaped to a grid, VGG the last ReLU, facenet's ``block8``; any other timm model the
end of its last ``feature_info`` stage.
"""
from __future__ import annotations

import torch
import torch.nn as nn


def _vit_reshape(model: nn.Module):
    prefix = getattr(model, "num_prefix_tokens", 1)

    def reshape(tokens: torch.Tensor) -> torch.Tensor:
        x = tokens[:, prefix:, :]
        side = int(round(x.shape[1] ** 0.5))
        return x.reshape(x.shape[0], side, side, x.shape[2]).permute(0, 3, 1, 2)

    return reshape


def target_layer(model: nn.Module, architecture: str, override: str | None = None):
    """(layer, reshape_transform) for an architecture; ``override`` names any module. An ensemble
    gives a list of layers, one a member."""
    if override:
        modules = dict(model.named_modules())
        if override not in modules:
            raise ValueError(f"no module {override!r} in {architecture}")
        return modules[override], (_vit_reshape(model) if "vit" in architecture else None)
    a = architecture.lower()
    if a == "ensemble":  # every member's layer: pytorch-grad-cam aggregates the maps of several layers
        layers = [target_layer(m, arch)[0] for m, arch in zip(model.members, model.architectures)]
        return layers, None
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
