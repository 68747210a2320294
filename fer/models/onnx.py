"""A model as one ONNX file for onnxruntime: exported, checked against PyTorch, cached, run.

The graph takes what the PyTorch model takes, float32 N×C×H×W normalised as model.json says,
and gives **probabilities** (the softmax is inside the graph), N × classes; the batch dimension
is dynamic. A plain classifier's logits and an ensemble's averaged log-probabilities both come
out as probabilities, as ``Predictor.classify`` computes them. The file's metadata (``metadata``)
says how to prepare a face and which model it is, so it is usable without FER Studio.

Every export is checked before it is written: onnxruntime and PyTorch on a batch of random images
and on the astronaut photo's face (scikit-image), max absolute difference of the probabilities at
most ``TOLERANCE``; the figures go into the metadata (``parity``).

Exporter: torch.onnx's ``torch.export``-based exporter (``dynamo=True``, torch's default and
the maintained one since 2.9; it needs onnxscript). The TorchScript exporter (``dynamo=False``)
is quicker (0.5 s against 4 s for fer_cnn) but deprecated and marked for removal.

The store keeps one export per set of weights (``layout.onnx_export(sha256)``), made on first
use (``session``); a copy for a download (``onnx_bytes``) is stamped with the identity of the
version asked for and checked again.
"""
from __future__ import annotations

import contextlib
import io
import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from fer import store
from fer.models.folder import load as load_folder
from fer.models.inputs import crop_input, norm_tensors, to_input
from fer.store import ModelVersion, layout

INPUT, OUTPUT = "input", "probabilities"
FORMAT = "fer-studio-onnx/1"
TOLERANCE = 1e-4
RANDOM_BATCH = 8
# metadata keys that say how to feed the graph: an export whose values differ is exported again
PREPROCESSING = ("format", "output", "input", "input_size", "channels", "normalisation", "classes", "architecture",
                 "face")


class OnnxError(ValueError):
    """An export that failed or did not match PyTorch: one line."""


class Probabilities(nn.Module):
    """The model with its softmax: what the ONNX graph computes."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return torch.softmax(self.model(x).float(), dim=1)


def metadata(meta: dict, identity: dict, parity: dict | None = None) -> dict[str, str]:
    """The ONNX file's metadata (strings; lists and objects as JSON). README: "ONNX metadata"."""
    size, channels = int(meta["input_size"]), int(meta["channels"])
    norm = meta["normalisation"]
    out = {
        "format": FORMAT,
        "output": f"{OUTPUT}: softmax probabilities, N x {len(meta['classes'])}, in the order of classes",
        "input": f"{INPUT}: float32 N x {channels} x {size} x {size} ({'grayscale' if channels == 1 else 'RGB'}), "
                 "each pixel uint8 / 255, then (x - mean) / std per channel",
        "input_size": str(size),
        "channels": str(channels),
        "normalisation": json.dumps({"mean": [float(m) for m in norm["mean"]], "std": [float(s) for s in norm["std"]]}),
        "classes": json.dumps(list(meta["classes"])),
        "architecture": str(meta["architecture"]),
        "face": json.dumps(meta.get("face") or {}),
        # test-time augmentation is not in the graph: with {"flip": true}, average the probabilities
        # of each face and of its mirror image, as the Predictor does
        "tta": json.dumps({"flip": bool((meta.get("tta") or {}).get("flip"))}),
        "model_name": str(identity.get("name")),
        "model_version": str(identity.get("version") or ""),
        "model_sha256": str(identity["sha256"]),
        "exporter": f"torch.onnx (torch.export) torch {torch.__version__}",
    }
    if parity is not None:
        out["parity"] = json.dumps(parity)
    return out


# -- the check against PyTorch --------------------------------------------------------------

@lru_cache(maxsize=8)
def _astronaut_face(size: int, channels: int, face_json: str) -> np.ndarray:
    """The astronaut photo's face, cut as the model's face block says (as ``Predictor.crop``)."""
    import skimage.data

    from fer import faces  # MTCNN: only when an export is checked

    rgb = skimage.data.astronaut()
    face = json.loads(face_json)
    found = faces.detect(rgb, method=face.get("detector") or "mtcnn")
    box = found[0] if found else faces.Face((130.0, 30.0, 330.0, 230.0), 0.0)  # where the face is
    if not face.get("align", True):
        box = faces.Face(box.box, box.score, None)
    return faces.align(rgb, box, size=size, margin=float(face.get("margin", 0.3)), grayscale=channels == 1)


def check_inputs(meta: dict) -> dict[str, torch.Tensor]:
    """What an export is checked on: a batch of random images and the astronaut's face, normalised."""
    size, channels = int(meta["input_size"]), int(meta["channels"])
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (RANDOM_BATCH, size, size, channels), dtype=np.uint8))
    mean, std = norm_tensors(meta)
    face = _astronaut_face(size, channels, json.dumps(meta.get("face") or {}, sort_keys=True))
    return {"random_batch": to_input(images, mean, std, channels_last=False), "astronaut_face": crop_input(face, meta)}


def compare(runner, model: nn.Module, inputs: dict[str, torch.Tensor]) -> dict[str, float]:
    """Max absolute difference of the probabilities, onnxruntime against PyTorch, per input."""
    net = Probabilities(model).eval()
    out = {}
    with torch.inference_mode():
        for name, x in inputs.items():
            out[name] = float(np.abs(runner(x.numpy()) - net(x).numpy()).max())
    return out


def check(onnx_model: bytes, model: nn.Module, meta: dict) -> dict:
    """``{"random_batch": d, "astronaut_face": d, "max_abs_diff": d, "tolerance": t}``; ``OnnxError``
    when onnxruntime and PyTorch differ by more than ``TOLERANCE``."""
    try:
        diffs = compare(OnnxModel(onnx_model), model, check_inputs(meta))
    except Exception as e:  # noqa: BLE001 - onnxruntime's errors (a graph it cannot load or run)
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise OnnxError(f"{meta['architecture']}: onnxruntime cannot run the export ({type(e).__name__}: {first})") from None
    worst = max(diffs.values())
    if not worst <= TOLERANCE:  # NaN fails too
        raise OnnxError(f"{meta['architecture']}: onnxruntime and PyTorch disagree (max |Δp| {worst:.2e} > "
                        f"{TOLERANCE:g}); the export is not written")
    return {**{k: float(f"{v:.3g}") for k, v in diffs.items()}, "max_abs_diff": float(f"{worst:.3g}"),
            "tolerance": TOLERANCE}


# -- export ---------------------------------------------------------------------------------

def _graph(model: nn.Module, meta: dict) -> "onnx.ModelProto":  # noqa: F821
    """The model with its softmax as an ONNX graph, batch dimension dynamic."""
    size, channels = int(meta["input_size"]), int(meta["channels"])
    example = torch.zeros(2, channels, size, size)  # 2, not 1: a batch of one would be specialised
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(Probabilities(model).eval(), (example,), dynamo=True, external_data=False,
                                        input_names=[INPUT], output_names=[OUTPUT], verbose=False,
                                        dynamic_shapes=({0: torch.export.Dim("batch")},))
    except Exception as e:  # the exporter raises many kinds; the first line says what it met
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise OnnxError(f"{meta['architecture']}: the ONNX exporter failed ({type(e).__name__}: {first})") from None
    return program.model_proto


def stamp(proto, props: dict[str, str]) -> bytes:
    """The graph with these metadata entries (replacing earlier ones), serialised."""
    keep = [p for p in proto.metadata_props if p.key not in props]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    for k, v in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    proto.producer_name = "FER Studio"
    return proto.SerializeToString()


def export_model(model: nn.Module, meta: dict, identity: dict) -> tuple[bytes, dict]:
    """(the ONNX file's bytes, the check's figures) for a model in eval mode and its model.json."""
    proto = _graph(model.eval(), meta)
    parity = check(proto.SerializeToString(), model, meta)
    return stamp(proto, metadata(meta, identity, parity)), parity


def _props(path: Path) -> dict[str, str]:
    """An ONNX file's metadata, read once per version of the file (pages ask on every rerun)."""
    return dict(_props_of(str(path), store.file_version(path)))


@lru_cache(maxsize=32)
def _props_of(path: str, version: tuple) -> tuple:
    import onnx

    return tuple((p.key, p.value) for p in onnx.load(path, load_external_data=False).metadata_props)


def _is_current(props: dict, meta: dict, sha256: str) -> bool:
    """Whether an export's metadata names these weights and this model.json's preprocessing."""
    want = metadata(meta, {"sha256": sha256})
    return props.get("model_sha256") == sha256 and all(props.get(k) == want[k] for k in PREPROCESSING)


def exported(version: ModelVersion) -> Path | None:
    """The store's current export of this version's weights, or None (nothing is exported)."""
    path = layout.onnx_export(version.sha256())
    try:
        return path if _is_current(_props(path), version.meta(), version.sha256()) else None
    except Exception:  # noqa: BLE001 - missing, torn or foreign: not an export of ours
        return None


def cached(version: ModelVersion, model: nn.Module | None = None) -> Path:
    """The store's export of this version's weights, made and checked now if missing or stale."""
    path = exported(version)
    if path is not None:
        return path
    meta = version.meta()
    if model is None:
        model, meta = load_folder(version.folder)
    data, _ = export_model(model, meta, version.identity())
    return store.write_bytes(layout.onnx_export(version.sha256()), data)


def onnx_bytes(version: ModelVersion, check_again: bool = True) -> tuple[bytes, dict]:
    """This version as an ONNX file to hand out: the store's export (made if needed), stamped
    with this version's identity and (``check_again``) checked against PyTorch once more.
    (bytes, parity figures)."""
    import onnx

    model, meta = load_folder(version.folder) if check_again else (None, version.meta())
    proto = onnx.load(str(cached(version, model)))
    if check_again:
        parity = check(proto.SerializeToString(), model, meta)
    else:
        parity = json.loads({p.key: p.value for p in proto.metadata_props}.get("parity") or "{}")
    return stamp(proto, metadata(meta, version.identity(), parity)), parity


# -- running --------------------------------------------------------------------------------

class OnnxModel:
    """An ONNX file (a path or its bytes) run by onnxruntime on the CPU: ``model(x)`` gives the
    probabilities of normalised float32 N×C×H×W images. ``threads``: onnxruntime's intra-op threads
    (None: its default, one per physical core)."""

    def __init__(self, source: str | Path | bytes, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only: no warnings on the console
        if threads:
            opts.intra_op_num_threads, opts.inter_op_num_threads = int(threads), 1
        self.source = source if isinstance(source, bytes) else str(source)
        self.session = ort.InferenceSession(self.source, opts, providers=["CPUExecutionProvider"])
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.threads = threads

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT], {INPUT: np.ascontiguousarray(x, dtype=np.float32)})[0]


class OnnxClassifier:
    """An ``OnnxModel`` standing in for the PyTorch network: a torch batch in, log-probabilities
    out, so that code which applies a softmax to a network's output (``Predictor.classify``, with
    any test-time augmentation) gets the export's probabilities back unchanged (within 1e-7)."""

    def __init__(self, runner: OnnxModel):
        self.runner = runner
        self.metadata = runner.metadata

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.from_numpy(self.runner(x.detach().cpu().numpy())))

    def eval(self) -> "OnnxClassifier":
        return self


def session(version: ModelVersion, threads: int | None = None) -> OnnxClassifier:
    """onnxruntime on this version's export (exported into the store on first use), in the
    PyTorch network's place."""
    return OnnxClassifier(OnnxModel(cached(version), threads=threads))
