"""Model folders: ``model.safetensors`` (weights, no pickle) + ``model.json`` (how to rebuild and
feed the model).

Which folder a name means (a run, a model version, the shipped model) is the store's business
(``fer.store.resolve_model``); this module reads and writes one folder.
"""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from pathlib import Path

from fer import store
from fer.labels import CLASSES

SHIPPED = Path(__file__).resolve().parent.parent / "pretrained" / "default"
WEIGHTS = "model.safetensors"
META = "model.json"


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
        if (c / META).exists() and (c / WEIGHTS).exists():
            return c
    raise ModelNotFound(f"no model {x!r}: not a model folder, a finished run, a model in {store.models_dir()}"
                        + (", nor shipped with FER Studio" if x == "default" else ""))


def read_meta(folder: Path) -> dict:
    return json.loads((Path(folder) / META).read_text("utf-8"))


def save(folder: Path, model, meta: dict) -> None:
    """Weights and model.json, each written atomically (weights first: a model.json always has
    weights beside it)."""
    from safetensors.torch import save_file  # imports torch: only where weights are written

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in unwrap(model).state_dict().items()}
    tmp = folder / f".{WEIGHTS}.tmp"
    save_file(state, str(tmp))
    tmp.chmod(0o644)
    tmp.replace(folder / WEIGHTS)
    store.write_json(folder / META, meta)


def write_meta(folder: Path, meta: dict) -> None:
    store.write_json(Path(folder) / META, meta)


def load(folder: Path, device: str = "cpu"):
    """(model in eval mode, meta) from a model folder; weights through safetensors only."""
    from safetensors.torch import load_file

    from fer.models.registry import build

    folder = Path(folder)
    meta = read_meta(folder)
    model = build({"backbone": meta["architecture"], "channels": meta["channels"],
                   "dropout": meta.get("dropout", 0.0)}, num_classes=len(meta["classes"]), for_training=False)
    model.load_state_dict(load_file(str(folder / WEIGHTS), device="cpu"))
    return model.to(device).eval(), meta


def sha256(folder: Path) -> str:
    """The sha256 of the weights file: which model a result came from."""
    h = hashlib.sha256()
    with open(Path(folder) / WEIGHTS, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    import timm
    import torch

    import fer

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
