"""Model folders: ``model.safetensors`` (weights, no pickle) + ``model.json`` (how to rebuild and
feed the model), and which folder a name means.

``resolve(x)`` follows DESIGN.md's "Which model": a path, then a run id, then a model name in
``$FER_ARTIFACTS/models/``, then the model shipped in the package; ``default`` is
``models/default`` when the user promoted a run there, else the shipped one.
"""
from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

from fer import store
from fer.labels import CLASSES

SHIPPED = Path(__file__).resolve().parent / "pretrained" / "default"


class ModelNotFound(ValueError):
    pass


def resolve(x: str | Path) -> Path:
    """The model folder ``x`` names; ``ModelNotFound`` with what was tried otherwise."""
    x = str(x)
    p = Path(x).expanduser()
    candidates = []
    if p.exists():
        candidates.append(p if p.is_dir() else p.parent)
    if store.NAME_RE.match(x):
        candidates += [store.runs_dir() / x, store.models_dir() / x]
        if x == "default":
            candidates.append(SHIPPED)
    for c in candidates:
        if (c / "model.json").exists() and (c / "model.safetensors").exists():
            return c
    raise ModelNotFound(f"no model {x!r}: not a model folder, a finished run, a model in {store.models_dir()}"
                        + (", nor shipped with FER Studio" if x == "default" else ""))


def read_meta(folder: Path) -> dict:
    return json.loads((Path(folder) / "model.json").read_text("utf-8"))


def save(folder: Path, model, meta: dict) -> None:
    """Weights and model.json, each written atomically (weights first: a model.json always has
    weights beside it)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in _unwrap(model).state_dict().items()}
    tmp = folder / ".model.safetensors.tmp"
    save_file(state, str(tmp))
    tmp.chmod(0o644)
    tmp.replace(folder / "model.safetensors")
    store.write_json(folder / "model.json", meta)


def load(folder: Path, device: str = "cpu"):
    """(model in eval mode, meta) from a model folder; weights through safetensors only."""
    from safetensors.torch import load_file

    from fer.training import models

    folder = Path(folder)
    meta = read_meta(folder)
    model = models.build({"backbone": meta["architecture"], "channels": meta["channels"],
                          "dropout": meta.get("dropout", 0.0)}, num_classes=len(meta["classes"]), for_training=False)
    model.load_state_dict(load_file(str(folder / "model.safetensors"), device="cpu"))
    return model.to(device).eval(), meta


def _unwrap(model):
    model = getattr(model, "module", model)  # DDP
    return getattr(model, "_orig_mod", model)  # torch.compile


def environment() -> dict:
    """Package versions, git commit and hardware, for model.json."""
    import timm
    import torch

    import fer

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=store.REPO_ROOT, capture_output=True,
                                text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "versions": {"fer": fer.__version__, "torch": torch.__version__, "timm": timm.__version__,
                     "python": platform.python_version()},
        "git_commit": commit,
        "hardware": {"cpu": platform.processor() or platform.machine(), "gpu": gpu,
                     "torch_threads": torch.get_num_threads()},
    }


def classes_ok(meta: dict) -> bool:
    return list(meta.get("classes", [])) == list(CLASSES)
