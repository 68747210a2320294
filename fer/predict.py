"""Emotions of the faces in an image, with any trained model, prepared as the model was trained.

``Predictor.load(x)`` takes a model folder, a run id, a model name (its current version),
``NAME@VERSION`` or ``default`` (``fer.store.resolve_model``), and says which model it is:
``name``, ``version`` and ``sha256`` of its weights. A folder that cannot give a working model is a
``ModelError`` naming what is wrong, except the store's ``default``: then the shipped model answers,
and ``fallback`` says why. Faces are found and cut with the ``face`` block of the model's
model.json (detector, eye alignment, margin, size, grayscale), so a photo reaches the model as
its training images did.

``runtime="onnx"`` runs the model's ONNX export with onnxruntime on the CPU (exported into the
store on first use, ``fer.models.onnx``); ``runtime="auto"`` (the app's, the command line's and
the benches' choice) takes onnxruntime where the model's export measured it faster and PyTorch
otherwise, and says why (``runtime_why``); the library's default stays PyTorch, so code written
against ``Predictor.load(name).model`` keeps its network. Flip TTA and the temperature apply
alike on both (``classify``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import torch

from fer import faces, models
from fer.images import fit_square
from fer.labels import CLASSES
from fer.store import DEFAULT, SHIPPED_VERSION, Model, ModelNotFound, ModelVersion, resolve_model

RUNTIMES = ("auto", "torch", "onnx")


@dataclass
class FaceResult:
    box: tuple[float, float, float, float]
    landmarks: np.ndarray | None
    probs: dict[str, float]
    label: str
    score: float = 1.0  # the detector's confidence
    crop: np.ndarray | None = field(default=None, repr=False)  # what the model saw

    @property
    def confidence(self) -> float:
        return self.probs[self.label]

    def to_dict(self) -> dict:
        return {"box": [round(float(v), 1) for v in self.box], "label": self.label,
                "probs": {k: round(float(v), 4) for k, v in self.probs.items()}, "score": round(float(self.score), 4)}


class Predictor:
    def __init__(self, model, meta: dict, folder: Path, device: str = "cpu", detector: str | None = None,
                 version: ModelVersion | None = None, runtime: str = "torch"):
        self.model, self.meta, self.folder, self.device = model, meta, Path(folder), torch.device(device)
        self.runtime = runtime  # "onnx": ``model`` is a fer.models.onnx.OnnxClassifier (onnxruntime)
        self.runtime_why = ""  # with runtime="auto": why this runtime
        self.model_version = version or ModelVersion("folder", str(Path(folder).resolve()), None, Path(folder))
        self.face = dict(meta.get("face") or {})
        trained = self.face.get("detector") or "mtcnn"
        self.detector = detector or trained
        self.warning = (f"detector {self.detector} differs from the {trained} this model's faces were prepared with: "
                        "crops may not match what it learned" if self.detector != trained else None)
        self.size, self.channels = int(meta["input_size"]), int(meta["channels"])
        self.mean, self.std = models.norm_tensors(meta, self.device)
        self.classes = list(meta["classes"])
        self.fallback: str | None = None  # why another model answers than the one asked for

    @classmethod
    def load(cls, x: str | Path | ModelVersion = "default", device: str = "cpu",
             detector: str | None = None, runtime: str = "torch", threads: int | None = None,
             export_later: bool = False) -> "Predictor":
        """``threads``: onnxruntime's intra-op threads (default ``fer.models.onnx.THREADS``);
        ``export_later``: with ``runtime="auto"`` and no export yet, make one in the background
        for the next load (a long-lived process: the app)."""
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime {runtime!r}: use one of {', '.join(RUNTIMES)}")
        version = x if isinstance(x, ModelVersion) else resolve_model(x)
        why = ""
        if runtime == "auto":
            from fer.models import onnx  # reads the export's metadata; onnxruntime only to run it

            runtime, why = onnx.fastest(version, device)
            if export_later and why.startswith("not exported"):
                onnx.export_soon(version)
        try:
            if runtime == "onnx":  # onnxruntime on the CPU, whatever the device
                from fer.models import onnx

                predictor = cls(onnx.session(version, threads=threads or onnx.THREADS), version.meta(),
                                version.folder, "cpu", detector, version, runtime)
            else:
                model, meta = models.load(version.folder, device=device)
                predictor = cls(model, meta, version.folder, device, detector, version)
        except models.ModelError as e:
            shipped = _shipped_instead_of(version)
            if shipped is None:
                raise
            predictor = cls.load(shipped, device, detector, "auto" if why else runtime, threads)
            predictor.fallback = (f"the store's default model ({version.ref}) cannot be used, so the model "
                                  f"shipped with FER Studio answers instead: {e}")
            return predictor
        predictor.runtime_why = why
        return predictor

    @property
    def name(self) -> str:
        """The model's name: a model name (``default`` ...), a run id, or the folder."""
        return self.model_version.name

    @property
    def version(self) -> str | None:
        """The version of a named model (``shipped`` for the one in the package), else None."""
        return self.model_version.version

    @property
    def sha256(self) -> str:
        """The sha256 of the weights file: which model a result came from."""
        return self.model_version.sha256()

    def identity(self) -> dict:
        """``{"name", "version", "sha256"}``: what every result of this predictor records."""
        return self.model_version.identity()

    @property
    def label(self) -> str:
        """What a page or a log line calls this model."""
        runtime = " on onnxruntime" if self.runtime == "onnx" else ""
        return f"{self.meta['architecture']} ({self.model_version.label}){runtime}"

    @torch.inference_mode()
    def classify(self, crops, batch_size: int = 64) -> np.ndarray:
        """N × 7 probabilities for faces already cut (uint8 arrays, any size, gray or RGB), with the
        test-time augmentation and the temperature the model's model.json asks for (``tta``,
        ``calibration``), alike on either runtime."""
        crops = [fit_square(np.asarray(c, dtype=np.uint8), self.size, self.channels) for c in crops]
        if not crops:
            return np.zeros((0, len(self.classes)), np.float32)
        return models.predict(self.model, np.stack(crops), self.mean, self.std, self.device, batch_size=batch_size,
                              **models.served(self.meta))

    def crop(self, rgb: np.ndarray, face: faces.Face) -> np.ndarray:
        """The face cut as the model's training faces were (the model.json face block)."""
        margin = float(self.face.get("margin", 0.3))
        if self.face.get("align", True):
            return faces.align(rgb, face, size=self.size, margin=margin, grayscale=self.channels == 1)
        plain = faces.Face(face.box, face.score, None)
        return faces.align(rgb, plain, size=self.size, margin=margin, grayscale=self.channels == 1)

    def predict(self, image, whole_image: bool = False) -> list[FaceResult]:
        """Every face in ``image`` (RGB array or PIL image), largest first; with ``whole_image``,
        an image without a detected face is classified as one face (a centre square)."""
        rgb = faces.as_rgb(image)
        found = faces.detect(rgb, method=self.detector)
        if found:
            crops = [self.crop(rgb, f) for f in found]
        elif whole_image:
            h, w = rgb.shape[:2]
            s = min(h, w)
            found = [faces.Face(((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2), 0.0)]
            crops = [faces.centre_crop(rgb, self.size, grayscale=self.channels == 1)]
        else:
            return []
        probs = self.classify(crops)
        return [FaceResult(f.box, f.landmarks, dict(zip(self.classes, map(float, p))), self.classes[int(p.argmax())],
                           f.score, c) for f, p, c in zip(found, probs, crops)]


def _shipped_instead_of(version: ModelVersion) -> ModelVersion | None:
    """The shipped model, when ``version`` is a stored version of ``default`` (which must answer)."""
    if version.name != DEFAULT or version.kind != "version":
        return None
    try:
        return Model(DEFAULT).version(SHIPPED_VERSION)
    except ModelNotFound:
        return None


MODEL_COLUMNS = ["model", "model_version", "model_sha256"]
RESULT_COLUMNS = ["image", "face", "label", "confidence", "box_x1", "box_y1", "box_x2", "box_y2", *CLASSES,
                  *MODEL_COLUMNS]


def results_table(results: Iterable[tuple[str, list[FaceResult]]], model: dict) -> pd.DataFrame:
    """One row per face of each named image, each naming the model that made it (``model``: a
    ``Predictor.identity()``): the Predict page's table and CSV, and ``python -m fer predict --csv``."""
    named = dict(zip(MODEL_COLUMNS, (model["name"], model["version"], model["sha256"])))
    rows = [{"image": name, "face": k, "label": r.label, "confidence": r.confidence,  # faces counted from 1
             **{f"box_{n}": round(v, 1) for n, v in zip(("x1", "y1", "x2", "y2"), r.box)},
             **{c: r.probs[c] for c in CLASSES}, **named}
            for name, found in results for k, r in enumerate(found, 1)]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def image_record(name: str, found: list[FaceResult], model: dict) -> dict:
    """One image's faces as JSON and the model that found them: a line of ``python -m fer predict
    --json`` and an entry of the Predict page's JSON download."""
    return {"image": name, "model": dict(model), "faces": [{"face": k, **r.to_dict()} for k, r in enumerate(found, 1)]}
