"""The kinds of job FER Studio runs, each with the validation the pages apply to the same input:
``train`` (a run of the store, its config checked against the config schema), ``evaluate``,
``import`` (sources inside the import roots, or uploads kept in the dataset), ``align`` and
``video`` (a video uploaded on the Predict page, judged against the video limits).

Checks are light (no torch): the page process and every finishing job re-run them before a job
starts. The work itself happens in the job's process; what it needs (torch, the trainer) is
imported there, inside the ``run_*`` functions, so that listing and queueing jobs stays cheap.

A train job may carry a tag naming who hears its epochs (a sweep's trial: ``trial``); the package
that makes such jobs adds its listener to ``EPOCH_LISTENERS`` (``fer.sweeps.kinds``), so that
``fer.jobs`` needs nothing of it.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable

from fer import config as C
from fer import settings
from fer.data import SourceSpec, import_dataset, summary, summary_text
from fer.data.align import align_dataset, describe
from fer.data.formats import FORMATS
from fer.faces import METHODS
from fer.jobs.harness import job_harness
from fer.jobs.registry import JobError, JobKind, register
from fer.labels import parse_mapping
from fer.store import EVAL_SPLITS, Dataset, Job, Run, check_name, layout, resolve_model

# tag of a train job's arguments → (the tag, the job's log) → the trainer's epoch hook
EPOCH_LISTENERS: dict[str, Callable[[dict, Callable[[str], None]], Callable[[int, dict], bool]]] = {}

REQUIRED = object()


def fields(args: dict, schema: dict[str, tuple]) -> dict:
    """``args`` against ``{key: (types, default)}``: unknown keys, missing ones and wrong types are
    refused by name."""
    unknown = sorted(set(args) - set(schema))
    if unknown:
        raise JobError(f"unknown argument(s) {', '.join(map(repr, unknown))}")
    out = {}
    for key, (types, default) in schema.items():
        value = args.get(key, default)
        if value is REQUIRED:
            raise JobError(f"argument {key!r} is required")
        wrong_bool = isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,))
        if value is not None and (not isinstance(value, types) or wrong_bool):
            raise JobError(f"argument {key!r}: {value!r} has the wrong type")
        out[key] = value
    return out


def _device(value: str) -> str:
    if value not in ("auto", "cpu", "cuda") and not (value.startswith("cuda:") and value[5:].isdigit()):
        raise JobError(f"device {value!r}: use auto, cpu, cuda or cuda:N")
    return value


# -- train -----------------------------------------------------------------------------------

def check_trial_tag(tag: dict) -> dict:
    """A train job's ``trial``: the study's name and the trial's number."""
    tag = fields(tag, {"study": (str, REQUIRED), "number": (int, REQUIRED)})
    check_name(tag["study"], "study name")
    if tag["number"] < 0:
        raise JobError(f"trial number {tag['number']}: use 0 or more")
    return tag


def check_train(args: dict) -> dict:
    """The run exists and its config.yaml passes the config schema (the Train form's); a sweep's
    trial also names its study and trial number (``trial``: ``{"study", "number"}``)."""
    args = fields(args, {"run": (str, REQUIRED), "trial": (dict, None)})
    if args["trial"] is None:
        del args["trial"]
    else:
        args["trial"] = check_trial_tag(args["trial"])
    run = Run.open(args["run"])
    try:
        config = C.validate(C.resolve(run.config()))
    except (OSError, ValueError, TypeError, AttributeError) as e:
        raise JobError(f"run {run.id}: its config does not pass ({e})") from None
    Dataset.open(config["dataset"])
    return args


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def train(folder: Path, log: Callable[[str], None] = _log, on_epoch=None) -> dict:
    """The run in ``folder`` trained inside the job harness (writer lock, heartbeat, Cancel, final
    state, closing line, the next queued job); under torchrun, rank 0 alone writes the folder."""
    from fer.training import trainer  # torch: loaded in the job's process only

    with job_harness(folder, enabled=int(os.environ.get("RANK", "0")) == 0) as job:
        result = trainer.run(folder, job, log, on_epoch)
        job.end(result["state"], epoch=result["epoch"])
        job.closing = f"run {Path(folder).name}: {result['state']} after {result['epoch']} epochs; wrote {folder}"
    return result


def run_train(args: dict, folder: Path) -> int:
    on_epoch = None
    if "trial" in args:  # a sweep's trial reports each epoch to its study, which may prune it
        if "trial" not in EPOCH_LISTENERS:
            raise JobError("a sweep's trial, but this process does not know sweeps (fer.sweeps.kinds)")
        on_epoch = EPOCH_LISTENERS["trial"](args["trial"], _log)
    result = train(folder, _log, on_epoch)
    return 0 if result["state"] in ("finished", "cancelled", "pruned") else 1


# -- evaluate --------------------------------------------------------------------------------

def check_evaluate(args: dict) -> dict:
    args = fields(args, {"model": (str, REQUIRED), "dataset": (str, REQUIRED), "split": (str, "test"),
                         "flip": (bool, False), "device": (str, "cpu")})
    resolve_model(args["model"], allow_paths=False)  # a model id of the store, never a path
    Dataset.open(args["dataset"])
    if args["split"] not in EVAL_SPLITS:
        raise JobError(f"split {args['split']!r}: use one of {', '.join(EVAL_SPLITS)}")
    _device(args["device"])
    return args


def run_evaluate(args: dict, folder: Path) -> int:
    from fer.evaluation import evaluate_model  # torch: loaded in the job's process only

    with job_harness(folder, cooperative=False) as job:
        summary, out = evaluate_model(resolve_model(args["model"], allow_paths=False), args["dataset"],
                                      args["split"], device=args["device"], flip=args["flip"])
        job.end("finished", output=str(out))
        job.closing = f"evaluate {folder.name}: accuracy {summary.get('accuracy', 0):.4f}; wrote {out}"
    return 0


# -- import and align ------------------------------------------------------------------------

def _check_location(location: str, dataset: str) -> None:
    """Inside the import roots (the Dataset page's rule), or an upload kept in the dataset."""
    uploads = Dataset(dataset).sources_dir.resolve()
    path = Path(location).expanduser().resolve()
    if uploads in path.parents:
        return
    if not settings.within_import_roots(path):
        raise JobError(f"{location} is outside the import roots ({', '.join(settings.load().import_roots)})")


def check_import(args: dict) -> dict:
    args = fields(args, {"name": (str, REQUIRED), "sources": (list, REQUIRED), "mapping": (list, []),
                         "align": (bool, False), "replace": (bool, False), "seed": (int, 0)})
    check_name(args["name"], "dataset name")
    if not args["sources"]:
        raise JobError("no source given")
    for src in args["sources"]:
        src = fields(src, {"location": (str, REQUIRED), "format": (str, None)}) if isinstance(src, dict) else None
        if src is None:
            raise JobError("a source is {'location': ..., 'format': ...}")
        if src["format"] is not None and src["format"] not in FORMATS:
            raise JobError(f"unknown format {src['format']!r}; formats: {', '.join(FORMATS)}")
        _check_location(src["location"], args["name"])
    if not all(isinstance(m, str) for m in args["mapping"]):
        raise JobError("a mapping is a list of SOURCE=CLASS lines")
    parse_mapping(args["mapping"])
    if Dataset.exists(args["name"]) and not args["replace"]:
        raise JobError(f"dataset {args['name']!r} exists already; choose another name or replace it")
    return args


def run_import(args: dict, folder: Path) -> int:
    with job_harness(folder, cooperative=False) as job:
        t0 = time.perf_counter()
        specs = [SourceSpec(s["location"], s.get("format")) for s in args["sources"]]
        result = import_dataset(specs, args["name"], mapping=args["mapping"], seed=args["seed"],
                                replace=args["replace"], progress=job.stage)
        if args["align"]:
            _align(args["name"], {}, job)
        print(summary_text(summary(result.name)))
        job.closing = f"wrote {result.folder} ({len(result.manifest)} images) in {time.perf_counter() - t0:.1f} s"
    return 0


def check_align(args: dict) -> dict:
    args = fields(args, {"name": (str, REQUIRED), "detector": (str, "mtcnn"), "size": (int, None),
                         "margin": ((int, float), 0.3), "grayscale": (bool, None)})
    Dataset.open(args["name"])
    if args["detector"] not in METHODS:
        raise JobError(f"detector {args['detector']!r}: use one of {', '.join(METHODS)}")
    if args["size"] is not None and not 16 <= args["size"] <= 512:
        raise JobError(f"face size {args['size']}: use 16 to 512 pixels")
    if not -0.5 <= args["margin"] <= 1:
        raise JobError(f"margin {args['margin']}: use -0.5 to 1")
    return args


def _align(name: str, options: dict, job) -> dict:
    done = align_dataset(name, progress=job.stage, **options)
    print(describe(done))
    return done


def run_align(args: dict, folder: Path) -> int:
    with job_harness(folder, cooperative=False) as job:
        t0 = time.perf_counter()
        _align(args["name"], {k: args[k] for k in ("detector", "size", "margin", "grayscale")}, job)
        job.closing = f"wrote {Dataset(args['name']).faces_path} in {time.perf_counter() - t0:.1f} s"
    return 0


# -- video (the Predict page) ---------------------------------------------------------------

EVERY_MAX = 1000
PROGRESS_SECONDS = 0.5  # at most two status writes a second


def _uploaded_video(location: str) -> Path:
    """A video job's input is its own upload, ``jobs/<id>/video_input.<ext>`` in the store: any
    other path is refused (the job never reads a file it was not given through the page)."""
    from fer.video import is_video_name

    real = Path(location).resolve()
    if not Job.holds(real) or real.stem != layout.VIDEO_INPUT or not is_video_name(real.name):
        raise JobError(f"{location}: not a video uploaded to the store")
    if not real.is_file():
        raise JobError(f"{location}: the uploaded video is gone")
    return real


def check_video(args: dict) -> dict:
    from fer.video import VideoLimits, check  # PyAV: loaded when a video job is checked, not to list jobs

    args = fields(args, {"video": (str, REQUIRED), "name": (str, "video"), "model": (str, "default"),
                         "every": (int, 5), "detector": (str, None)})
    path = _uploaded_video(args["video"])
    resolve_model(args["model"], allow_paths=False)
    if not 1 <= args["every"] <= EVERY_MAX:
        raise JobError(f"every {args['every']}: analyse every 1st to every {EVERY_MAX}th frame")
    if args["detector"] is not None and args["detector"] not in METHODS:
        raise JobError(f"detector {args['detector']!r}: use one of {', '.join(METHODS)}")
    check(path, VideoLimits.from_settings(), args["name"])  # unreadable, endless, too big, too long, too many frames
    return args


def _throttled(report, seconds: float = PROGRESS_SECONDS):
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if done >= total or time.monotonic() - last[0] >= seconds:
            last[0] = time.monotonic()
            report(done, total)
    return progress


def run_video(args: dict, folder: Path) -> int:
    from fer.predict import Predictor  # torch: loaded in the job's process only
    from fer.video import VideoLimits, analyse_into, describe

    with job_harness(folder, cooperative=False) as job:
        try:
            predictor = Predictor.load(resolve_model(args["model"], allow_paths=False), detector=args["detector"],
                                       runtime="auto")
            report = _throttled(lambda done, total: job.progress(progress=done / total,
                                                                 message=f"frame {done:,} of {total:,}"))
            info = analyse_into(folder, args["video"], predictor, args["every"], VideoLimits.from_settings(),
                                progress=report, name=args["name"])
            job.end("finished", output=str(folder / layout.VIDEO_ANNOTATED))
            job.closing = f"video {folder.name}: {describe(info)}"
        finally:
            Path(args["video"]).unlink(missing_ok=True)  # the upload is not kept: the results are
    return 0


register(JobKind("train", check_train, run_train, folder=lambda args: Run.open(args["run"]).folder,
                 description="train a run of the store (its config), a sweep's trial too", remote=True))
register(JobKind("evaluate", check_evaluate, run_evaluate, description="evaluate a model on a dataset's split",
                 remote=True))
register(JobKind("import", check_import, run_import, description="import sources as a dataset"))
register(JobKind("align", check_align, run_align, description="detect and align a dataset's faces"))
register(JobKind("video", check_video, run_video, folder=lambda args: Path(args["video"]).resolve().parent,
                 description="the emotions through an uploaded video, and an annotated copy"))
