"""Backbones by name through timm's registry, our own two included.

``fer_cnn`` (a VGG-style CNN of about a million parameters for 48-px grayscale faces, quick on a
CPU) and ``facenet_vggface2`` (facenet-pytorch's InceptionResnetV1 with a new head) are
registered with timm, so ``timm.create_model(name)`` builds every architecture, and model.json,
prediction and Grad-CAM rebuild any of them by name.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

import huggingface_hub.constants as hf_constants
import timm
import torch
import torch.nn as nn
from safetensors.torch import load_file
from timm.models import register_model

from fer.labels import NUM_CLASSES
from fer.models.fer_cnn import FerCNN
from fer.store.layout import MODEL_META, WEIGHTS


class ModelError(ValueError):
    """A model that cannot be built: one line that says what to do instead."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.detail = detail  # the underlying reason alone, for callers that phrase their own line


class WeightsUnreadable(ModelError):
    """A model folder's weights cannot be read (truncated, random bytes, not safetensors)."""


class WeightsMisfit(ModelError):
    """A model folder's weights do not fit the network its model.json describes."""


# -- our small CNN (its network in fer.models.fer_cnn) ------------------------------------

@register_model
def fer_cnn(pretrained: bool = False, **kwargs) -> FerCNN:
    if pretrained:
        raise ModelError("fer_cnn has no pretrained weights: set model.pretrained: false")
    kwargs.pop("pretrained_cfg", None), kwargs.pop("pretrained_cfg_overlay", None)
    model = FerCNN(**kwargs)
    model.pretrained_cfg = {"input_size": (kwargs.get("in_chans", 1), 48, 48), "mean": (0.5,), "std": (0.25,),
                            "classifier": "fc", "architecture": "fer_cnn"}
    return model


# -- VGGFace2 (facenet-pytorch) -------------------------------------------------------------

class FaceNetClassifier(nn.Module):
    """InceptionResnetV1 (VGGFace2 weights when pretrained) → 512-d embedding → dropout → linear."""

    def __init__(self, pretrained: bool = False, num_classes: int = NUM_CLASSES, drop_rate: float = 0.5,
                 in_chans: int = 3, **_):
        super().__init__()
        from facenet_pytorch import InceptionResnetV1  # only this backbone needs facenet-pytorch

        if in_chans != 3:
            raise ModelError("facenet_vggface2 takes RGB input: set model.channels: 3")
        self.backbone = InceptionResnetV1(pretrained="vggface2" if pretrained else None, classify=False)
        self.num_features = 512
        self.head_drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(512, num_classes)
        self.feature_info = [{"module": f"backbone.{m}"} for m in ("repeat_1", "mixed_6a", "mixed_7a", "last_linear")]
        self.pretrained_cfg = {"input_size": (3, 160, 160), "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5),
                               "classifier": "fc", "architecture": "facenet_vggface2"}

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.fc = nn.Linear(self.num_features, num_classes)

    def forward_features(self, x):
        return self.backbone(x)

    def forward_head(self, x, pre_logits: bool = False):
        x = self.head_drop(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


@register_model
def facenet_vggface2(pretrained: bool = False, **kwargs) -> FaceNetClassifier:
    kwargs.pop("pretrained_cfg", None), kwargs.pop("pretrained_cfg_overlay", None)
    return FaceNetClassifier(pretrained=pretrained, **kwargs)


# -- building -------------------------------------------------------------------------------

def _online(host: str = "huggingface.co", timeout: float = 2.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false"):
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def known(name: str) -> bool:
    return name in ("fer_cnn", "facenet_vggface2") or timm.is_model(name)


def build(mcfg: dict, num_classes: int = NUM_CLASSES, for_training: bool = True) -> nn.Module:
    """A model from the ``model`` block of a config (or of model.json, with ``for_training=False``:
    the architecture only, weights loaded by the caller)."""
    name = mcfg["backbone"]
    if name == "ensemble" and not for_training:  # a model folder of several members (fer.models.ensemble)
        from fer.models.ensemble import build as build_ensemble

        return build_ensemble(mcfg.get("members") or [], mcfg.get("channels", 3), num_classes)
    if not known(name):
        raise ModelError(f"unknown backbone {name!r}: a timm model name (e.g. resnet18, convnext_tiny), fer_cnn "
                         "or facenet_vggface2")
    kwargs = dict(num_classes=num_classes, in_chans=mcfg.get("channels", 3), drop_rate=mcfg.get("dropout", 0.0))
    pretrained = for_training and bool(mcfg.get("pretrained"))
    weights = mcfg.get("weights") if for_training else None
    if weights:
        path = Path(weights).expanduser()
        if not path.exists():
            raise ModelError(f"model.weights: {path} does not exist")
        if path.suffix == ".safetensors" and _is_fer_checkpoint(path):
            model = timm.create_model(name, pretrained=False, **kwargs)
            model.load_state_dict(load_file(path))
            return model
        return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs)
    if pretrained:
        if name == "facenet_vggface2":
            cached = Path(torch.hub.get_dir()) / "checkpoints" / "20180402-114759-vggface2.pt"
            if not cached.exists() and not _online("github.com"):
                raise ModelError("facenet_vggface2: the VGGFace2 weights need the network once (no cached copy); "
                                 f"set model.pretrained: false, or model.weights: a 7-class {WEIGHTS}")
        elif not _online():  # use a cached copy if there is one, without a minute of retries
            os.environ["HF_HUB_OFFLINE"] = "1"
            hf_constants.HF_HUB_OFFLINE = True  # the hub read the variable when timm imported it: tell it again
        try:
            return timm.create_model(name, pretrained=True, **kwargs)
        except ModelError:
            raise
        except Exception as e:  # no network and no cache: timm/hf raise a zoo of error types
            raise ModelError(f"{name}: pretrained weights cannot be fetched offline ({type(e).__name__}); "
                             "set model.pretrained: false, or model.weights: a local weights file") from None
    return timm.create_model(name, pretrained=False, **kwargs)


def _is_fer_checkpoint(path: Path) -> bool:
    return (path.parent / MODEL_META).exists()
