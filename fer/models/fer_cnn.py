"""``fer_cnn``: our VGG-style CNN for 48-px grayscale faces, in a module that imports torch and
nothing else of the app's, so that the GPU kit (``gpu_kit/``), which runs where only torch,
torchvision, timm, numpy, safetensors and PyYAML are installed, trains the very network FER
Studio loads. ``fer.models.registry`` registers it with timm under that name.
"""
from __future__ import annotations

import torch.nn as nn

from fer.labels import NUM_CLASSES


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class FerCNN(nn.Module):
    """Four stages of 3×3 convolutions (32, 64, 128, 256 channels; 1, 2, 2, 2 layers), max-pooling
    between them, global average pooling, dropout and a linear head: 1.2 M parameters."""

    def __init__(self, num_classes: int = NUM_CLASSES, in_chans: int = 1, drop_rate: float = 0.3,
                 widths=(32, 64, 128, 256), depths=(1, 2, 2, 2), **_):
        super().__init__()
        stages, c = [], in_chans
        for i, (w, d) in enumerate(zip(widths, depths)):
            layers = [nn.MaxPool2d(2)] if i else []
            for _ in range(d):
                layers += _conv(c, w)
                c = w
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.num_features = c
        self.drop_rate = drop_rate
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(c, num_classes)
        self.feature_info = [{"num_chs": w, "reduction": 2 ** i, "module": f"stages.{i}"} for i, w in enumerate(widths)]

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.fc = nn.Linear(self.num_features, num_classes)

    def forward_features(self, x):
        return self.stages(x)

    def forward_head(self, x, pre_logits: bool = False):
        x = self.head_drop(self.global_pool(x).flatten(1))
        return x if pre_logits else self.fc(x)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))
