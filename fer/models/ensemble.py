"""Several trained models as one: their softmax probabilities averaged.

An ensemble is an ordinary model folder: ``model.json`` says ``"architecture": "ensemble"`` and
lists its ``members`` (each member's architecture, dropout and where it came from), and
``model.safetensors`` holds every member's weights under ``members.<i>.``. Everything that takes a
model folder (the Predictor, evaluation, Grad-CAM, ONNX export, model zips, promotion) takes an
ensemble unchanged. The network returns the log of the averaged probabilities, so a softmax
downstream gives the average back exactly.

    python -m fer model ensemble NAME --member MODEL --member MODEL... [--flip] [--half]
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from fer import store
from fer.labels import CLASSES
from fer.models.folder import environment, load, save
from fer.store import ModelVersion, resolve_model

ARCHITECTURE = "ensemble"
# what every member must share: the input the Predictor makes for them
SHARED = ("input_size", "channels", "normalisation", "face")


class Ensemble(nn.Module):
    def __init__(self, members: list[nn.Module], architectures: list[str]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.architectures = list(architectures)  # each member's, for its Grad-CAM layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([F.softmax(m(x).float(), dim=1) for m in self.members]).mean(0)
        return torch.log(probs.clamp_min(1e-12))  # log-probabilities: softmax(log p) = p


def build(member_specs: list[dict], channels: int, num_classes: int) -> Ensemble:
    """The ensemble's network from model.json's ``members`` (weights loaded by the caller)."""
    from fer.models.registry import build as build_one

    if not member_specs:
        raise ValueError("an ensemble needs members")
    return Ensemble([build_one({"backbone": m["architecture"], "channels": channels, "dropout": m.get("dropout", 0.0)},
                               num_classes=num_classes, for_training=False) for m in member_specs],
                    [m["architecture"] for m in member_specs])


def combine(refs: list[str], flip: bool = False) -> tuple[Ensemble, dict]:
    """(network, model.json) of the ensemble of these models (run ids, NAME, NAME@VERSION,
    ``default``, folders). Refused, naming the member, when they do not take the same input."""
    if len(refs) < 2:
        raise ValueError("an ensemble needs at least two members")
    versions: list[ModelVersion] = [resolve_model(r) for r in refs]
    nets, metas = zip(*(load(v.folder) for v in versions))
    first = metas[0]
    for v, meta in zip(versions, metas):
        if meta.get("architecture") == ARCHITECTURE:
            raise ValueError(f"{v.ref} is an ensemble already: name its members instead")
        if list(meta.get("classes", [])) != list(CLASSES):
            raise ValueError(f"{v.ref}: its classes are not FER Studio's seven")
        for key in SHARED:
            if meta.get(key) != first.get(key):
                raise ValueError(f"{v.ref} takes another input than {versions[0].ref} ({key}: {meta.get(key)!r} "
                                 f"against {first.get(key)!r}): the members of an ensemble see the same crop")
    members = [{"architecture": m["architecture"], "dropout": m.get("dropout", 0.0), "source": v.ref,
                "sha256": v.sha256(), "data": m.get("data"), "metrics": m.get("metrics", {}),
                "training": m.get("training"), "hardware": m.get("hardware")} for v, m in zip(versions, metas)]
    meta = {"architecture": ARCHITECTURE, "classes": list(CLASSES), **{k: first[k] for k in SHARED if k in first},
            "members": members, "tta": {"flip": bool(flip)}, "data": first.get("data"), **environment(),
            "created": store.now()}
    return Ensemble(list(nets), [m["architecture"] for m in metas]).eval(), meta


def write(folder: Path, refs: list[str], flip: bool = False, half: bool = False) -> dict:
    """Write the ensemble of ``refs`` as a model folder (``half``: weights stored in float16); its
    model.json."""
    net, meta = combine(refs, flip)
    save(Path(folder), net, meta, half=half)
    return meta


def write_folder(out: Path, refs: list[str], flip: bool = False, half: bool = False) -> dict:
    """The ensemble of ``refs`` as a new model folder ``out`` (outside the store: ``model ensemble
    --out``), built beside it and swapped in whole; refused when ``out`` holds anything."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"--out {out}: the folder exists and is not empty")
    new = store.new_folder_beside(out)
    try:
        meta = write(new, refs, flip, half)
        store.replace_folder(new, out)
    except BaseException:
        store.remove_folder(new)
        raise
    return meta


def add_version(name: str, refs: list[str], flip: bool = False, half: bool = False) -> ModelVersion:
    """The ensemble of ``refs`` as a new (current) version of the model ``name``."""
    meta = combine(refs, flip)[1]  # refused before the store is touched
    return store.add_version(name, lambda folder: write(folder, refs, flip, half),
                             {"ensemble_of": [m["source"] for m in meta["members"]]})


def describe(meta: dict) -> str:
    """One line: what the ensemble is made of."""
    parts = [f"{m['architecture']} ({m['source']})" for m in meta.get("members", [])]
    return f"ensemble of {len(parts)}: " + ", ".join(parts) + (" with flip TTA" if (meta.get("tta") or {}).get("flip")
                                                                else "")
