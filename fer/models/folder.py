"""Model folders: ``model.safetensors`` (weights, no pickle) + ``model.json`` (how to rebuild and
feed the model).

Which folder a name means (a run, a model version, the shipped model) is the store's business
(``fer.store.resolve_model``); this module reads and writes one folder, wherever it is.
"""
from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

import fer
from fer import store
from fer.labels import CLASSES
from fer.store import ModelNotFound  # noqa: F401  (what resolving a model name raises)
from fer.store.layout import MODEL_META as META
from fer.store.layout import SHIPPED  # noqa: F401  (the model inside the package)
from fer.store.layout import WEIGHTS


def read_meta(folder: Path) -> dict:
    return json.loads((Path(folder) / META).read_text("utf-8"))


def save(folder: Path, model, meta: dict) -> None:
    """Weights and model.json, each written atomically (weights first: a model.json always has
    weights beside it)."""
    from safetensors.torch import save_file  # imports torch: only where weights are written

    folder = Path(folder)
    state = {k: v.detach().contiguous().cpu() for k, v in unwrap(model).state_dict().items()}
    store.atomic_write(folder / WEIGHTS, lambda tmp: save_file(state, tmp))
    store.write_json(folder / META, meta)


def write_meta(folder: Path, meta: dict) -> None:
    store.write_json(Path(folder) / META, meta)


def load(folder: Path, device: str = "cpu"):
    """(model in eval mode, meta) from a model folder; weights through safetensors only."""
    from safetensors.torch import load_file  # torch: reading model.json alone stays light

    from fer.models.registry import build  # torch and timm, likewise

    folder = Path(folder)
    meta = read_meta(folder)
    model = build({"backbone": meta["architecture"], "channels": meta["channels"], "dropout": meta.get("dropout", 0.0),
                   "members": meta.get("members")}, num_classes=len(meta["classes"]), for_training=False)
    model.load_state_dict(load_file(str(folder / WEIGHTS), device="cpu"))
    return model.to(device).eval(), meta


def unwrap(model):
    model = getattr(model, "module", model)  # DDP
    return getattr(model, "_orig_mod", model)  # torch.compile


def git_commit() -> str | None:
    """The commit of the checkout the ``fer`` package runs from; None when the package is
    installed (it is not ``<checkout>/fer``) or git is not there."""
    package = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(package), *args], capture_output=True, text=True,
                              timeout=5).stdout.strip()

    try:
        top = git("rev-parse", "--show-toplevel")
        if not top or (Path(top).resolve() / "fer") != package:
            return None
        return git("rev-parse", "--short", "HEAD") or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment() -> dict:
    """Package versions, git commit and hardware, for model.json."""
    import timm  # torch and timm: only where a model is written
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "versions": {"fer": fer.__version__, "torch": torch.__version__, "timm": timm.__version__,
                     "python": platform.python_version()},
        "git_commit": git_commit(),
        "hardware": {"cpu": platform.processor() or platform.machine(), "gpu": gpu,
                     "torch_threads": torch.get_num_threads()},
    }


def classes_ok(meta: dict) -> bool:
    return list(meta.get("classes", [])) == list(CLASSES)
