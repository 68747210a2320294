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
version asked for and checked again. The models shipped in the package carry theirs beside the
weights (``model.onnx``), so the default needs no export, ever.

Every export also measures itself against PyTorch (``speed``: a face alone, as Predict and Live
classify, and a batch, as an evaluation does), and ``fastest`` uses that figure to choose the
runtime: onnxruntime where it was measured faster, PyTorch where not, where nothing is exported
yet (then the export can be made in the background, ``export_soon``) or where the export failed
its check. onnxruntime runs on ``THREADS`` intra-op thread unless told otherwise: its default
pool takes every core and fights the other work (the page, the camera, a training) on a small
machine.
"""
from __future__ import annotations

import contextlib
import io
import json
import threading
import time
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
THREADS = 1  # onnxruntime's intra-op threads unless told otherwise (see above)
SPEED_BATCH = 64  # the batch the speed of an evaluation is measured on
SPEED_RUNS = 15  # timed runs per runtime and case, interleaved, after a warm-up ...
SPEED_SECONDS = 2.0  # ... or fewer (at least 3) once a case has taken this long: a large network's batch
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
        # test-time augmentation and temperature are not in the graph: with {"flip": true}, average
        # the probabilities of each face and of its mirror image, then with a temperature T take
        # softmax(log p / T), as the Predictor does
        "tta": json.dumps({"flip": bool((meta.get("tta") or {}).get("flip"))}),
        "temperature": json.dumps(float((meta.get("calibration") or {}).get("temperature") or 1.0)),
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
    # Weights that float16 holds exactly (saved in float16) are kept as they are: the exporter's
    # optimiser would fold batch norms into convolutions (weights no longer float16 numbers), so
    # only constants are folded here (a convolution's bias becomes a weight again, which lets
    # onnxruntime fold the batch norms itself when the session loads: measured as fast), and
    # ``half_stored`` stores them in float16. Other models get the exporter's optimised graph.
    half = _weights_half_exact(model)
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(Probabilities(model).eval(), (example,), dynamo=True, external_data=False,
                                        input_names=[INPUT], output_names=[OUTPUT], verbose=False,
                                        dynamic_shapes=({0: torch.export.Dim("batch")},), optimize=not half)
    except Exception as e:  # the exporter raises many kinds; the first line says what it met
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise OnnxError(f"{meta['architecture']}: the ONNX exporter failed ({type(e).__name__}: {first})") from None
    proto = program.model_proto
    if half:
        import onnxscript.optimizer

        onnxscript.optimizer.fold_constants(proto)
        onnxscript.optimizer.remove_unused_nodes(proto)
        proto = half_stored(proto)
    return proto


HALF_MIN_ELEMENTS = 1024  # smaller tensors are not worth a Cast node


def _weights_half_exact(model: nn.Module) -> bool:
    """Whether every large floating-point weight of the model is exactly a float16 number."""
    with torch.no_grad():
        return all(t.half().float().equal(t.float()) for t in model.state_dict().values()
                   if t.is_floating_point() and t.numel() >= HALF_MIN_ELEMENTS)


def half_stored(proto):
    """The graph with each large float32 weight that float16 holds exactly (weights saved in
    float16, as a shipped model's are) stored as float16 and cast back to float32 when the session
    loads: half the file, the same numbers. Other weights stay as they are."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph, casts = proto.graph, []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT or np.prod(init.dims) < HALF_MIN_ELEMENTS:
            continue
        value = numpy_helper.to_array(init)
        half = value.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), value):
            continue
        stored = numpy_helper.from_array(half, f"{init.name}__float16")
        graph.initializer.remove(init)
        graph.initializer.append(stored)
        casts.append(helper.make_node("Cast", [stored.name], [init.name], to=TensorProto.FLOAT,
                                      name=f"{init.name}__to_float32"))
    if casts:
        nodes = casts + list(graph.node)  # a Cast before every node that reads its output
        del graph.node[:]
        graph.node.extend(nodes)
        onnx.checker.check_model(proto)
    return proto


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


def speed(onnx_model: bytes, model: nn.Module, meta: dict, runs: int = SPEED_RUNS) -> dict:
    """Milliseconds a face of onnxruntime (``THREADS`` thread) and of PyTorch (its threads now) on
    one face alone and on a batch of ``SPEED_BATCH``: medians of ``runs`` interleaved runs (the
    two runtimes see the same load), fewer where a case passes ``SPEED_SECONDS``."""
    runner, net = OnnxModel(onnx_model, threads=THREADS), Probabilities(model).eval()
    size, channels = int(meta["input_size"]), int(meta["channels"])
    out: dict = {"onnx_threads": THREADS, "torch_threads": torch.get_num_threads()}
    with torch.inference_mode():
        for case, n in (("face", 1), ("batch", SPEED_BATCH)):
            x = torch.rand(n, channels, size, size)
            timings: dict[str, list[float]] = {"onnx": [], "torch": []}
            start = time.perf_counter()
            for k in range(runs + 2):  # the first two warm up
                for name, run in (("onnx", lambda: runner(x.numpy())), ("torch", lambda: net(x))):
                    t = time.perf_counter()
                    run()
                    if k >= 2:
                        timings[name].append((time.perf_counter() - t) * 1000 / n)
                if k >= 4 and time.perf_counter() - start > SPEED_SECONDS:
                    break
            out[case] = {name: float(f"{float(np.median(ms)):.3g}") for name, ms in timings.items()}
            out[f"{case}_runs"] = len(timings["onnx"])
    return out


def export_model(model: nn.Module, meta: dict, identity: dict) -> tuple[bytes, dict]:
    """(the ONNX file's bytes, the check's figures) for a model in eval mode and its model.json;
    the file's metadata carries the check and the measured speed of both runtimes."""
    proto = _graph(model.eval(), meta)
    data = proto.SerializeToString()
    parity = check(data, model, meta)
    props = metadata(meta, identity, parity)
    props["speed"] = json.dumps(speed(data, model, meta))
    return stamp(proto, props), parity


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


def shipped_beside(version: ModelVersion) -> Path | None:
    """The ``model.onnx`` beside the weights of a model shipped in the package (never one of the
    store: a stored version's files are not trusted to be what their metadata says)."""
    if version.kind != "shipped":
        return None
    # an earlier shipped version with the same weights as the default (another tta, say) uses its file
    for path in (version.folder / layout.ONNX_MODEL, layout.SHIPPED / layout.ONNX_MODEL):
        if path.is_file() and _props(path).get("model_sha256") == version.sha256():
            return path
    return None


def exported(version: ModelVersion) -> Path | None:
    """This version's current export: the shipped one beside its weights, else the store's; None
    when there is none yet."""
    try:
        beside = shipped_beside(version)
    except Exception:  # noqa: BLE001 - a torn file in the package: the store's export instead
        beside = None
    for path in (beside, layout.onnx_export(version.sha256())):
        if path is None:
            continue
        try:
            if _is_current(_props(path), version.meta(), version.sha256()):
                return path
        except Exception:  # noqa: BLE001 - missing, torn or foreign: not an export of ours
            continue
    return None


def measured_speed(version: ModelVersion) -> dict | None:
    """The speed figures its export measured (``speed``), or None (no export, or made before)."""
    path = exported(version)
    try:
        return json.loads(_props(path)["speed"]) if path is not None else None
    except (KeyError, ValueError, OSError):
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


def session(version: ModelVersion, threads: int | None = THREADS) -> OnnxClassifier:
    """onnxruntime on this version's export (exported into the store on first use), in the
    PyTorch network's place; ``threads`` intra-op threads (None: onnxruntime's default pool)."""
    return OnnxClassifier(OnnxModel(cached(version), threads=threads))


# -- choosing the runtime -------------------------------------------------------------------

_failed: dict[str, str] = {}  # weights sha256 → why its export failed (not tried again in this process)
_exporting: set[str] = set()
_exporting_lock = threading.Lock()


def available() -> bool:
    try:
        import onnxruntime  # noqa: F401
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


def fastest(version: ModelVersion, device: str = "cpu", case: str = "face") -> tuple[str, str]:
    """(``"onnx"`` or ``"torch"``, why) for running this version on ``device``: onnxruntime where
    its export measured it faster than PyTorch for ``case`` (``"face"``: faces one by one, as
    Predict and Live; ``"batch"``: an evaluation), PyTorch otherwise."""
    if str(device) not in ("cpu", "auto") and not str(device).startswith("cpu"):
        return "torch", f"on {device} PyTorch runs it"
    if not available():
        return "torch", "onnxruntime is not installed"
    sha = version.sha256()
    if sha in _failed:
        return "torch", f"its ONNX export failed ({_failed[sha]})"
    figures = measured_speed(version)
    if figures is None:
        return "torch", "not exported for onnxruntime yet"
    onnx_ms, torch_ms = figures[case]["onnx"], figures[case]["torch"]
    if onnx_ms < torch_ms:
        return "onnx", f"measured faster: {onnx_ms:.2g} against {torch_ms:.2g} ms a face"
    return "torch", f"measured faster: {torch_ms:.2g} against onnxruntime's {onnx_ms:.2g} ms a face"


def export_soon(version: ModelVersion) -> bool:
    """Export this version in a background thread (once at a time per set of weights), so that
    a later ``fastest`` can choose onnxruntime; False when there is nothing to do."""
    sha = version.sha256()
    if not available() or sha in _failed or exported(version) is not None:
        return False
    with _exporting_lock:
        if sha in _exporting:
            return False
        _exporting.add(sha)

    def work() -> None:
        try:
            cached(version)
        except Exception as e:  # noqa: BLE001 - OnnxError, the exporter's own, a version deleted meanwhile
            _failed[sha] = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        finally:
            with _exporting_lock:
                _exporting.discard(sha)

    threading.Thread(target=work, name=f"onnx-export-{sha[:12]}", daemon=True).start()
    return True
