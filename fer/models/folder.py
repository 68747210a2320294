"""Model folders: ``model.safetensors`` (weights, no pickle) + ``model.json`` (how to rebuild and
feed the model).

Which folder a name means (a run, a model version, the shipped model) is the store's business
(``fer.store.resolve_model``); this module reads and writes one folder, wherever it is.
"""
from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import fer
from fer import store
from fer.labels import CLASSES
from fer.models.weights import WeightsFileError, header
from fer.store import ModelNotFound  # noqa: F401  (what resolving a model name raises)
from fer.store.layout import MODEL_META as META
from fer.store.layout import SHIPPED  # noqa: F401  (the model inside the package)
from fer.store.layout import WEIGHTS
from fer.store.models import META_MAX_BYTES, META_MAX_DEPTH  # the store reads model.json within them too

MAX_MEMBERS = 8  # networks in one ensemble


class MetaError(ValueError):
    """A model.json that cannot be read (too large, too deep, not JSON): one line."""


def parse_meta(data: bytes) -> dict:
    """model.json's bytes as an object, bounded before anything is built from it: its size
    (``META_MAX_BYTES``), nesting (``META_MAX_DEPTH``) and an ensemble's members
    (``MAX_MEMBERS``); ``MetaError`` otherwise."""
    try:
        meta = store.io.loads_bounded(data, META_MAX_BYTES, META_MAX_DEPTH, META)
    except ValueError as e:
        raise MetaError(str(e)) from None
    if not isinstance(meta, dict):
        raise MetaError(f"{META} is not a JSON object")
    members = meta.get("members")
    if members is not None and (not isinstance(members, list) or len(members) > MAX_MEMBERS):
        raise MetaError(f"{META}: an ensemble has at most {MAX_MEMBERS} members, not "
                        f"{len(members) if isinstance(members, list) else repr(members)}")
    return meta


def read_meta(folder: Path) -> dict:
    return parse_meta((Path(folder) / META).read_bytes())


def save(folder: Path, model, meta: dict, half: bool = False) -> None:
    """Weights and model.json, each written atomically (weights first: a model.json always has
    weights beside it). ``half``: floating-point weights stored as float16 (half the file; they
    load into the float32 network, which computes as before on the rounded weights)."""
    from safetensors.torch import save  # imports torch: only where weights are written

    folder = Path(folder)
    state = {k: v.detach().contiguous().cpu() for k, v in unwrap(model).state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        meta = {**meta, "weights_dtype": "float16"}
    store.write_bytes(folder / WEIGHTS, save(state))  # Python writes it: a full disk is an OSError naming the file
    store.write_json(folder / META, meta)


def write_meta(folder: Path, meta: dict) -> None:
    store.write_json(Path(folder) / META, meta)


def _broken(folder: Path, what: str, kind: str = "ModelError", detail: str | None = None):
    from fer.models import registry  # torch: only where a model is loaded

    return getattr(registry, kind)(f"model folder {folder} cannot be loaded: {what}", detail)


def checked_meta(folder: Path) -> dict:
    """model.json, with every key a model is rebuilt and fed from checked: ``ModelError`` naming
    what is missing or wrong."""
    folder = Path(folder)
    try:
        meta = read_meta(folder)
    except FileNotFoundError:
        raise _broken(folder, f"it has no {META}") from None
    except OSError as e:
        raise _broken(folder, f"{META} is not readable ({type(e).__name__}: {e})") from None
    except MetaError as e:
        raise _broken(folder, str(e)) from None
    missing = [k for k in ("architecture", "classes", "input_size", "channels", "normalisation") if k not in meta]
    if missing:
        raise _broken(folder, f"{META} lacks {', '.join(map(repr, missing))}")
    if not isinstance(meta["architecture"], str):
        raise _broken(folder, f"{META}: architecture {meta['architecture']!r} is not a name")
    if not (isinstance(meta["classes"], list) and len(meta["classes"]) == len(CLASSES)
            and set(meta["classes"]) == set(CLASSES)):
        raise _broken(folder, f"{META}: classes {meta['classes']!r} are not the seven FER Studio predicts "
                              f"({', '.join(CLASSES)})")
    if meta["channels"] not in (1, 3) or isinstance(meta["channels"], bool):
        raise _broken(folder, f"{META}: channels {meta['channels']!r}: 1 (grayscale) or 3 (RGB)")
    size = meta["input_size"]
    if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 1024:
        raise _broken(folder, f"{META}: input_size {meta['input_size']!r} is not a side in pixels (8 to 1024)")
    norm = meta["normalisation"]

    def per_channel(values) -> bool:
        return isinstance(values, list) and len(values) == meta["channels"] and all(
            isinstance(v, (int, float)) for v in values)

    if not (isinstance(norm, dict) and per_channel(norm.get("mean")) and per_channel(norm.get("std"))):
        raise _broken(folder, f"{META}: normalisation needs a mean and a std for each of its {meta['channels']} "
                              "channel(s)")
    return meta


def _header(folder: Path) -> dict[str, tuple[int, ...]]:
    """The weights' names and shapes, from the file's header alone (nothing loaded)."""
    try:
        return header(folder / WEIGHTS)
    except FileNotFoundError:
        raise _broken(folder, f"it has no {WEIGHTS}") from None
    except WeightsFileError as e:
        raise _broken(folder, f"{WEIGHTS} is damaged ({e})", "WeightsUnreadable", str(e)) from None


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file  # torch: reading model.json alone stays light

    try:
        return load_file(str(folder / WEIGHTS), device="cpu")
    except FileNotFoundError:
        raise _broken(folder, f"it has no {WEIGHTS}") from None
    except Exception as e:  # safetensors' own error type: truncated, random bytes, not safetensors at all
        why = " ".join(str(e).split())[:120]
        raise _broken(folder, f"{WEIGHTS} is damaged ({type(e).__name__}: {why})", "WeightsUnreadable", why) from None


def _misfit(model, have: dict[str, tuple[int, ...]]) -> str | None:
    """How weights of these names and shapes fail to fit a model's parameters, in a few words;
    None when they fit."""
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    shapes = [k for k in sorted(set(want) & set(have)) if want[k] != have[k]]
    parts = ([f"{len(missing)} tensors missing (e.g. {missing[0]})"] if missing else []) \
        + ([f"{len(extra)} unexpected (e.g. {extra[0]})"] if extra else []) \
        + ([f"size mismatch for {shapes[0]}: {list(have[shapes[0]])} in the file, {list(want[shapes[0]])} in the "
            f"network" + (f" (and {len(shapes) - 1} more)" if len(shapes) > 1 else "")] if shapes else [])
    return "; ".join(parts) or None


def load(folder: Path, device: str = "cpu"):
    """(model in eval mode, meta) from a model folder; weights through safetensors only. A folder
    that cannot give a working model (model.json missing, damaged or lacking keys, weights damaged
    or of another architecture, class count or channel count) raises ``ModelError`` saying which."""
    from fer.models.registry import build  # torch and timm, likewise

    import torch

    folder = Path(folder)
    meta = checked_meta(folder)
    have = _header(folder)
    block = {"backbone": meta["architecture"], "channels": meta["channels"], "dropout": meta.get("dropout", 0.0),
             "members": meta.get("members")}
    try:  # first on PyTorch's meta device: sized, not allocated, so a tiny file cannot cost gigabytes
        with torch.device("meta"):
            sized = build(block, num_classes=len(meta["classes"]), for_training=False)
    except (ValueError, KeyError, TypeError) as e:  # ModelError, or an ensemble's members that build nothing
        raise _broken(folder, str(e), detail=str(e)) from None
    misfit = _misfit(sized, have)
    if misfit:
        raise _broken(folder, f"{WEIGHTS} does not fit the {meta['architecture']} with {meta['channels']} channel(s) "
                              f"and {len(meta['classes'])} classes that {META} describes ({misfit})", "WeightsMisfit",
                      misfit)
    weights = _weights(folder)
    model = build(block, num_classes=len(meta["classes"]), for_training=False)
    model.load_state_dict(weights)
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
