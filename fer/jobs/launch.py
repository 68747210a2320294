"""Starting jobs: the one door through which every kind of job is queued (``fer.jobs.queue.submit``
underneath), and a training run here in the foreground. The pages, the command line and a sweep's
coordinator start jobs through these functions (``fer.actions`` says who may).

Each checks its input before anything is written (a config, a video's size, a run's state) and
returns the job's folder; a job the backend refuses leaves nothing behind.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from fer import store
from fer.data import dataset
from fer.jobs.queue import refuse_if_written, submit
from fer.jobs.registry import JobError
from fer.store import ACTIVE, Job, Run, RunError, StoreError, io, layout
from fer.store.io import store_write_error


def check_config(cfg: dict) -> dict:
    """What can be checked before a training: the config, its dataset, its backbone, its teachers
    (``ConfigError`` naming the key)."""
    from fer.training import trainer  # the backbone registry and the teachers: torch

    trainer.prepare(cfg)
    return cfg


def new_run(cfg: dict, tags: dict | None = None) -> Run:
    """A new run of ``cfg`` (checked first); a store that cannot be written is one ``StoreError``."""
    check_config(cfg)
    try:
        return Run.create(cfg, tags)
    except OSError as e:
        raise StoreError(store_write_error(e) or f"cannot write to the store: {e}") from None


def _queued(run: Run, args: dict, device: str | None) -> Path:
    """Queue ``run``'s training; a run the backend refuses is not left behind."""
    try:
        return submit("train", args, device=device)
    except ValueError:
        if run.state not in ACTIVE:
            run.delete()
        raise
    except OSError as e:
        raise StoreError(store_write_error(e) or f"cannot write to the store: {e}") from None


def train(cfg: dict, device: str | None = None) -> Path:
    """A new run of ``cfg`` queued as a training; returns its folder."""
    run = new_run(cfg)
    return _queued(run, {"run": run.id}, device)


def trial(cfg: dict, study: str, number: int, device: str | None = None,
          made: Callable[[Run], None] = lambda run: None) -> Run:
    """A sweep's trial: a run tagged with its study and number, queued as a training that reports
    each epoch to the study; ``made(run)`` hears of the run before it is queued."""
    run = new_run(cfg, tags={"study": study, "trial": number})
    made(run)
    _queued(run, {"run": run.id, "trial": {"study": study, "number": number}}, device)
    return run


def clear_training(run: Run) -> None:
    """What training wrote into a run (checkpoints, epochs, weights, evaluations), for a fresh
    start; refused while a live process writes the run."""
    refuse_if_written(run.job)
    for path in (run.checkpoint_path, run.previous_checkpoint_path, run.metrics_path, *run.model_files):
        path.unlink(missing_ok=True)
    io.remove_folder(run.eval_dir)


def resume(run_id: str, device: str | None = None, fresh: bool = False) -> Path:
    """Queue a cancelled, failed or refused run again: it continues from its last checkpoint
    (the one before when the last is damaged). ``fresh`` starts it again from scratch instead:
    its checkpoints, epochs, weights and evaluations go, its id, name and config stay."""
    run = Run.open(run_id)
    state = run.state
    if state in ACTIVE:
        raise RunError(f"run {run_id} is {state} already")
    if state in ("finished", "pruned"):
        raise RunError(f"run {run_id} has {'been pruned by its sweep' if state == 'pruned' else 'finished'}; "
                       "start a new run to train longer")
    refuse_if_written(run.job)
    if fresh:
        clear_training(run)
    return submit("train", {"run": run_id}, device=device)


def train_here(cfg: dict | None = None, run: Run | None = None, log: Callable[[str], None] = print,
               announce: Callable[[Run], None] = lambda run: None) -> tuple[Run, dict]:
    """A new run of ``cfg`` (or ``run`` again) trained in this process, inside the job harness, so
    that the pages follow and can cancel it. Under torchrun every rank trains the same run (rank 0
    makes it); ``announce(run)`` is told of it on rank 0 before training starts."""
    from fer.jobs.kinds import train
    from fer.training import trainer

    if run is None:
        check_config(cfg)
        run = trainer.shared_run(lambda: Run.create(cfg))
    if int(os.environ.get("RANK", "0")) == 0:
        run.job.clear_stop_request()  # a start, as a launch is: an earlier cancel's request is not for this one
        announce(run)
    return run, train(run.folder, log)


def evaluate(model: str, dataset_name: str, split: str = "test", flip: bool = False,
             device: str | None = None) -> Path:
    """An evaluation of a model of the store on a dataset's split, as a job."""
    args = {"model": model, "dataset": dataset_name, "split": split, "flip": flip}
    return submit("evaluate", {**args, **({"device": device} if device else {})})


def import_dataset(sources: list[dataset.SourceSpec], name: str, mapping: list[str] | None = None,
                   align: bool = False, replace: bool = False, seed: int = 0) -> Path:
    """An import of ``sources`` as dataset ``name``, as a job (its arguments checked first:
    nothing is queued otherwise)."""
    return submit("import", {"name": name, "sources": [{"location": str(s.location), "format": s.format}
                                                       for s in sources],
                             "mapping": list(mapping or []), "align": align, "replace": replace, "seed": seed})


def reimport(name: str) -> Path:
    """The same sources, formats, mapping and seed again (files changed on disk), as a job."""
    info = dataset.info(name)
    specs = [dataset.SourceSpec(s["location"], s["format"]) for s in info["sources"].values()]
    mapping = [f"{k}={v}" for k, v in info.get("label_map", {}).items()]
    return import_dataset(specs, name, mapping, replace=True, seed=int((info.get("split") or {}).get("seed", 0)))


def align(name: str, detector: str = "mtcnn", size: int | None = None) -> Path:
    """An alignment of dataset ``name``'s faces, as a job."""
    return submit("align", {"name": name, "detector": detector, "size": size})


def video(filename: str, data: bytes, model: str, every: int = 5, detector: str | None = None) -> Path:
    """Keep an uploaded video in a new job's folder and queue its analysis; returns the folder.
    Refused with one line, and nothing kept, when the file is over the size limit (judged before
    it is written) or the video is unreadable, endless or over a limit."""
    from fer.video import VIDEO_EXTENSIONS, VideoLimits, check_size, is_video_name

    if not is_video_name(filename):
        raise JobError(f"{Path(filename).name}: not a video file ({', '.join(VIDEO_EXTENSIONS)})")
    check_size(Path(filename).name, len(data), VideoLimits.from_settings())
    job = Job.new()
    upload = store.write_bytes(job.folder / f"{layout.VIDEO_INPUT}{Path(filename).suffix.lower()}", data)
    try:
        return submit("video", {"video": str(upload), "name": Path(filename).name, "model": model, "every": every,
                                "detector": detector})
    except BaseException:
        store.remove_folder(job.folder)
        raise


def sweep(args: dict, device: str | None = None) -> Path:
    """A checked sweep's study (``Sweep.args()``) as a job of kind ``sweep``."""
    return submit("sweep", args, device=device)
