"""A model as one zip, to take out of the app and to bring back in.

A model zip holds ``model.safetensors`` and ``model.json`` (required), ``card.md`` and
``config.yaml`` when the model has them, and ``model.onnx`` when the store holds a current ONNX
export of its weights (``fer.models.onnx``). Its members sit at the top or in one folder.

An import judges the zip before it keeps anything: the archive as a dataset import judges it
(``fer.data.archive``: a zip, member names inside it, member count, compression ratio), then
only the members above (a pickle, ``.pt``/``.pth``/``.pkl``/``.bin``/``.ckpt``, is refused by
name; weights load through safetensors only), each read with the size caps, model.json checked
(architecture, the seven classes, input size, channels, normalisation), and the weights loaded
into the network model.json names and run once. Then the files become a new version of the
name, as a promotion makes one (``fer.store.add_version``). ``model.onnx`` of an imported zip
is not kept: the app makes its own export from the weights, and checks it, on first use.
"""
from __future__ import annotations

import hashlib
import io
import math
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fer import store
from fer.data.archive import Limits, SourceError, judge, read_member
from fer.labels import CLASSES
from fer.store import ModelVersion, check_name, layout

REQUIRED = (layout.WEIGHTS, layout.MODEL_META)
OPTIONAL = (layout.CARD, layout.CONFIG)
MEMBERS = (*REQUIRED, *OPTIONAL, layout.ONNX_MODEL)
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt", ".joblib", ".npy", ".npz")


class ModelZipError(ValueError):
    """A model zip that cannot be imported: one line that says why."""


# -- out ------------------------------------------------------------------------------------

def zip_bytes(version: ModelVersion) -> bytes:
    """This version as a model zip: its weights, model.json, card and config, and its ONNX export
    when the store holds one (stamped with this version's identity)."""
    from fer.models import onnx  # onnx: only to stamp an export that exists

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in (*REQUIRED, *OPTIONAL):
            if (version.folder / name).is_file():
                zf.write(version.folder / name, name)
        if onnx.exported(version) is not None:
            zf.writestr(layout.ONNX_MODEL, onnx.onnx_bytes(version, check_again=False)[0])
    return buf.getvalue()


# -- in -------------------------------------------------------------------------------------

@dataclass
class Contents:
    """The checked members of a model zip (name → bytes) and its model.json."""
    files: dict[str, bytes]
    meta: dict
    ignored: list[str]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.files[layout.WEIGHTS]).hexdigest()


def _member_names(infos: list[zipfile.ZipInfo], label: str) -> dict[str, zipfile.ZipInfo]:
    """Plain name → member: the members at the top or in one folder; anything else refused."""
    files = [i for i in infos if not i.is_dir()]
    tops = {PurePosixPath(i.filename).parts[0] for i in files if len(PurePosixPath(i.filename).parts) > 1}
    prefix = next(iter(tops)) + "/" if len(tops) == 1 and all("/" in i.filename for i in files) else ""
    out: dict[str, zipfile.ZipInfo] = {}
    for info in files:
        name = info.filename[len(prefix):]
        if name.lower().endswith(PICKLE_SUFFIXES):
            raise ModelZipError(f"{label}: {info.filename!r} is a pickle-style file; a model zip holds safetensors "
                                f"weights only ({layout.WEIGHTS}); nothing was imported")
        if name not in MEMBERS:
            raise ModelZipError(f"{label}: unexpected member {info.filename!r} (a model zip holds "
                                f"{', '.join(MEMBERS)}); nothing was imported")
        if name in out:
            raise ModelZipError(f"{label}: {name!r} is in the archive twice; nothing was imported")
        out[name] = info
    missing = [n for n in REQUIRED if n not in out]
    if missing:
        raise ModelZipError(f"{label}: no {' and no '.join(missing)} in the archive; nothing was imported")
    return out


def _number_list(value, n: int) -> bool:
    return (isinstance(value, list) and len(value) == n
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value))


def check_meta(meta, label: str = layout.MODEL_META) -> dict:
    """model.json as the app needs it; ``ModelZipError`` naming the first thing wrong."""
    if not isinstance(meta, dict):
        raise ModelZipError(f"{label}: not a JSON object")
    if not isinstance(meta.get("architecture"), str):  # whether it builds: check_weights
        raise ModelZipError(f"{label}: no architecture named")
    if list(meta.get("classes") or []) != list(CLASSES):
        raise ModelZipError(f"{label}: classes must be {', '.join(CLASSES)} in this order, not {meta.get('classes')!r}")
    size, channels = meta.get("input_size"), meta.get("channels")
    if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 1024:
        raise ModelZipError(f"{label}: input_size must be a whole number of pixels from 8 to 1024, not {size!r}")
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ModelZipError(f"{label}: channels must be 1 or 3, not {channels!r}")
    norm = meta.get("normalisation")
    if not (isinstance(norm, dict) and _number_list(norm.get("mean"), channels) and _number_list(norm.get("std"), channels)
            and all(s > 0 for s in norm["std"])):
        raise ModelZipError(f"{label}: normalisation needs a mean and a positive std for each of its {channels} "
                            "channel(s)")
    if not isinstance(meta.get("face", {}), dict):
        raise ModelZipError(f"{label}: face must be an object (detector, align, margin, ...)")
    return meta


def check_weights(folder: Path, meta: dict, label: str) -> None:
    """The weights load (safetensors) into the network model.json names and give 7 scores."""
    import torch

    from fer.models.folder import load
    from fer.models.registry import WeightsMisfit, WeightsUnreadable

    try:
        model, _ = load(folder)
    except WeightsUnreadable as e:
        raise ModelZipError(f"{label}: {layout.WEIGHTS} is not a readable safetensors file ({e.detail})") from None
    except WeightsMisfit as e:
        raise ModelZipError(f"{label}: the weights do not fit the {meta['architecture']} that {layout.MODEL_META} names: "
                            f"{e.detail}") from None
    except Exception as e:  # noqa: BLE001 - the network cannot be built from this model.json
        why = getattr(e, "detail", None) or (str(e).splitlines() or [""])[0]  # (not the temporary folder's name)
        raise ModelZipError(f"{label}: {layout.MODEL_META} does not build a network ({type(e).__name__}: "
                            f"{why[:200]})") from None
    size, channels = int(meta["input_size"]), int(meta["channels"])
    try:
        with torch.inference_mode():
            out = model(torch.zeros(1, channels, size, size))
    except Exception as e:  # noqa: BLE001 - e.g. a ViT fed another input size
        raise ModelZipError(f"{label}: the network does not run on {channels} x {size} x {size} inputs "
                            f"({type(e).__name__})") from None
    if tuple(out.shape) != (1, len(CLASSES)) or not torch.isfinite(out).all():
        raise ModelZipError(f"{label}: the network gives {tuple(out.shape)} scores for one face, not 1 x {len(CLASSES)}")


def read(source: str | Path | bytes, label: str, limits: Limits | None = None) -> Contents:
    """The checked contents of a model zip (a path or an upload's bytes); ``ModelZipError`` or
    ``SourceError`` (the archive itself) with one line otherwise. Nothing is written."""
    limits = limits or Limits.current()
    infos = judge(source, label, limits)
    members = _member_names(infos, label)
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source) as zf:
        for name, info in members.items():
            try:
                files[name] = read_member(zf, info.filename, limits)
            except (zipfile.BadZipFile, OSError, EOFError) as e:  # a damaged member (bad CRC, truncated)
                raise ModelZipError(f"{label}: {info.filename!r} cannot be read ({e})") from None
    from fer.models.folder import MetaError, parse_meta

    try:
        meta = parse_meta(files[layout.MODEL_META])  # its size and nesting bounded before anything is built
    except MetaError as e:
        raise ModelZipError(f"{label}: {e}") from None
    check_meta(meta, f"{label}: {layout.MODEL_META}")
    ignored = [layout.ONNX_MODEL] if files.pop(layout.ONNX_MODEL, None) is not None else []
    return Contents(files, meta, ignored)


def import_zip(source: str | Path | bytes, name: str, label: str | None = None) -> tuple[ModelVersion, Contents]:
    """A model zip checked whole, then added as a new version of ``name`` (made current, as a
    promotion does). Returns the version and what was read. Nothing is written on a refusal."""
    check_name(name, "model name")
    label = label or (Path(source).name if not isinstance(source, (bytes, bytearray)) else "the zip")
    try:
        contents = read(source, label)
    except SourceError as e:  # the archive's own refusal (names, count, sizes): said of this zip
        raise ModelZipError(str(e) if str(e).startswith(label) else f"{label}: {e}") from None
    with tempfile.TemporaryDirectory(prefix="fer-model-zip-") as tmp:
        for member, data in contents.files.items():
            (Path(tmp) / member).write_bytes(data)
        check_weights(Path(tmp), contents.meta, label)

        def fill(folder: Path) -> None:
            for member in contents.files:
                store.write_bytes(folder / member, (Path(tmp) / member).read_bytes())

        version = store.add_version(name, fill, {"imported_from": label})
    return version, contents
