"""The store's layout: the one module that spells its folder and file names.

```
$FER_ARTIFACTS (default: ./artifacts)
  settings.toml
  activity.jsonl    the activity log (who changed what; rotated to activity.1.jsonl …)
  datasets/<name>/  manifest.parquet, dataset.json, near_pairs.parquet, exclusions.csv (and its
                    .lock), faces.npy, faces.parquet, cache-<size>-<channels>-<hash>.npy, sources/
  runs/<run id>/    run.json, config.yaml, status.json, job.json, metrics.jsonl, train.log,
                    last.pt, previous.pt, model.safetensors, model.json, eval/<dataset>/<split>/,
                    .writer.lock
  models/<name>/    current.json, versions/<n>/ (model.safetensors, model.json, version.json,
                    config.yaml, card.md, eval/<dataset>/<split>/)
  jobs/<job id>/    job.json, status.json, log.txt, stop.request, .writer.lock (a video analysis:
                    video_input.<ext> while it runs, then video_annotated.mp4, video_timeline.csv,
                    video_previews.npy, video.json)
  studies/          studies.db (Optuna's SQLite storage of sweeps, unless study_storage names another)
  evals/<key>/<dataset>/<split>/   evaluations of models outside the store (the shipped one)
  imports/          folders and zips to import from the app (the default import root)
  exports/onnx/<weights sha256>.onnx   a model exported for onnxruntime, made on first use
```
An evaluation folder holds summary.json and predictions.parquet (summary_flip.json and
predictions_flip.parquet with flip test-time augmentation).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

ARTIFACTS = "artifacts"
SETTINGS = "settings.toml"
ACTIVITY = "activity.jsonl"  # the activity log; rotated to activity.1.jsonl, activity.2.jsonl …
ACTIVITY_LOCK = ".activity.lock"
JOBS_LOCK = ".jobs.lock"
MODELS_LOCK = ".models.lock"
DATASETS, RUNS, MODELS, JOBS, EVALS, EXPORTS = "datasets", "runs", "models", "jobs", "evals", "exports"
IMPORTS = "imports"  # folders and zips put here can be imported from the app (the default import root)
STUDIES = "studies"
STUDIES_DB = "studies.db"  # Optuna's SQLite storage (with its -journal beside it)

# datasets/<name>/
MANIFEST = "manifest.parquet"
DATASET_INFO = "dataset.json"
NEAR_PAIRS = "near_pairs.parquet"
EXCLUSIONS = "exclusions.csv"
EXCLUSIONS_LOCK = "exclusions.csv.lock"  # taken by every writer of decisions
FACES = "faces.npy"
FACES_TABLE = "faces.parquet"
SOURCES = "sources"
USER_FILES = (EXCLUSIONS, SOURCES)  # the user's: carried over when a dataset is imported again

# jobs/<id>/ and runs/<id>/ (a run is a job too)
JOB = "job.json"
STATUS = "status.json"
JOB_LOG = "log.txt"
STOP_REQUEST = "stop.request"  # written by Cancel: the job's process reads it, wherever it runs
RUN = "run.json"
CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
TRAIN_LOG = "train.log"
CHECKPOINT = "last.pt"
CHECKPOINT_PREVIOUS = "previous.pt"  # the checkpoint before last.pt: where a resume falls back to
WRITER_LOCK = ".writer.lock"  # held (flock) by the one process writing a job's folder, for its whole life

# jobs/<id>/ of a video analysis (the Predict page): the upload, then what the job wrote
VIDEO_INPUT = "video_input"  # + the upload's extension (video_input.mp4); removed when the job ends
VIDEO_ANNOTATED = "video_annotated.mp4"
VIDEO_TIMELINE = "video_timeline.csv"
VIDEO_PREVIEWS = "video_previews.npy"
VIDEO_INFO = "video.json"

# a model folder: a run, a version of a named model, the shipped model
WEIGHTS = "model.safetensors"
MODEL_META = "model.json"
CARD = "card.md"
MODEL_FILES = (WEIGHTS, MODEL_META, CONFIG, CARD)  # what a promotion copies (and eval/)
EVAL = "eval"
SUMMARY = "summary.json"
PREDICTIONS = "predictions.parquet"

# a model as one file for onnxruntime: the member of a model zip, and the store's cache of exports
ONNX_MODEL = "model.onnx"
ONNX_SUFFIX = ".onnx"

# models/<name>/
CURRENT = "current.json"
VERSIONS = "versions"
VERSION_INFO = "version.json"
LEGACY_SOURCE = "source.json"  # a model folder promoted before versions: {"run", "promoted"}

# the model shipped inside the package (never written by the app)
SHIPPED = Path(__file__).resolve().parents[1] / "pretrained" / "default"
# the models shipped before it, kept restorable as versions shipped-<n> of default
EARLIER_SHIPPED = Path(__file__).resolve().parents[1] / "pretrained" / "earlier"


def root() -> Path:
    """The store's folder: ``$FER_ARTIFACTS`` when set, else ``artifacts/`` in the working folder."""
    env = os.environ.get("FER_ARTIFACTS")
    return Path(env).expanduser().resolve() if env else (Path.cwd() / ARTIFACTS).resolve()


def settings_path() -> Path:
    return root() / SETTINGS


def datasets_dir() -> Path:
    return root() / DATASETS


def runs_dir() -> Path:
    return root() / RUNS


def models_dir() -> Path:
    return root() / MODELS


def jobs_dir() -> Path:
    return root() / JOBS


def imports_dir() -> Path:
    return root() / IMPORTS


def evals_dir() -> Path:
    return root() / EVALS


def onnx_export(weights_sha256: str) -> Path:
    """The store's ONNX export of the weights with this sha256 (one file per set of weights:
    every name, version or run holding them shares it; never inside the package)."""
    if not re.fullmatch(r"[0-9a-f]{64}", weights_sha256):
        raise ValueError(f"not a sha256: {weights_sha256!r}")
    return root() / EXPORTS / "onnx" / f"{weights_sha256}{ONNX_SUFFIX}"


def activity_log(rotated: int = 0) -> Path:
    """The activity log (``rotated`` > 0: the k-th older file)."""
    return root() / (ACTIVITY if not rotated else ACTIVITY.replace(".jsonl", f".{rotated}.jsonl"))


def activity_lock() -> Path:
    return root() / ACTIVITY_LOCK


def studies_db() -> Path:
    return root() / STUDIES / STUDIES_DB


def training_cache(size: int, channels: int, digest: str = "*") -> str:
    """A dataset's images decoded once for one input size (``*``: a glob of every version)."""
    return f"cache-{size}-{channels}-{digest}.npy"


def evaluation_files(flip: bool = False) -> tuple[str, str]:
    """(summary, predictions) file names of an evaluation, plain or with flip TTA."""
    suffix = "_flip" if flip else ""
    return f"summary{suffix}.json", f"predictions{suffix}.parquet"


FILE_NAMES = (SETTINGS, ACTIVITY, ACTIVITY_LOCK, JOBS_LOCK, MODELS_LOCK, MANIFEST, DATASET_INFO, NEAR_PAIRS, EXCLUSIONS, EXCLUSIONS_LOCK, FACES,
              FACES_TABLE, JOB, STATUS, JOB_LOG, STOP_REQUEST, STUDIES_DB, RUN, CONFIG, METRICS, TRAIN_LOG, CHECKPOINT,
              CHECKPOINT_PREVIOUS, WRITER_LOCK, WEIGHTS, MODEL_META, CARD, SUMMARY, PREDICTIONS, CURRENT, VERSION_INFO,
              LEGACY_SOURCE, ONNX_MODEL, *evaluation_files(True), VIDEO_INPUT, VIDEO_ANNOTATED, VIDEO_TIMELINE,
              VIDEO_PREVIEWS, VIDEO_INFO)
