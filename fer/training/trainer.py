"""A training run from its folder, in three steps: ``setup`` (recipe, data, model, optimizer,
schedule, resume), ``train_epochs`` (train, validate, keep the best, checkpoint, stop early or on
SIGTERM) and ``finish`` (evaluate the best weights, complete model.json).

``run(folder, control)`` trains the config in the run's folder; ``control`` (``fer.training.control``)
hears its progress and says when to stop (as a job, the harness: ``fer.jobs``). It checkpoints at every epoch's end and
inside epochs every ``checkpoint.every_seconds`` (``fer.training.checkpoints``: every random
generator included), and resumes from there exactly: a run stopped and resumed takes the steps,
learning rates and data order of an uninterrupted one. SIGTERM stops it cleanly at any point
(inside an epoch, its validation or the final evaluation): it saves, keeps loadable weights and
ends ``cancelled``. Under ``torchrun`` it trains with DistributedDataParallel: every rank takes
the same number of steps (the epoch's order is padded to a multiple of the world size, as
``DistributedSampler`` does), stops and checkpoints on the same batch, figures are reduced across
ranks, and rank 0 alone writes the run folder.
"""
from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from timm.data import Mixup
from timm.utils import ModelEmaV3

from fer import config as C
from fer import models, store
from fer.config import Recipe
from fer.data import arrays, dataset
from fer.evaluation import metrics, write_evaluation
from fer.labels import CLASSES, NUM_CLASSES
from fer.models import normalisation
from fer.store import Evaluation, Run, now
from fer.training import checkpoints, data, distill, engine, transfer
from fer.training.augment import BatchAugment
from fer.training.control import Control, Unattended

# (epoch, validation figures: loss, accuracy, macro_f1, ...) → True to stop the run after that epoch
EpochHook = Callable[[int, dict], bool]
MONITORS = {"val_macro_f1": lambda v: v["macro_f1"], "val_accuracy": lambda v: v["accuracy"],
            "val_loss": lambda v: -v["loss"]}  # higher is better


def prepare(cfg: dict) -> Recipe:
    """Everything that can be checked before training: config, dataset, backbone."""
    recipe = Recipe.from_config(cfg)
    try:
        dataset.info(recipe.dataset)
    except dataset.DatasetError as e:
        raise C.ConfigError(f"dataset: {e}") from None
    if not models.known(recipe.model.backbone):
        raise C.ConfigError(f"model.backbone: unknown backbone {recipe.model.backbone!r} (a timm model name, "
                            "fer_cnn or facenet_vggface2)")
    distill.resolve_teachers(recipe.distill.teachers)
    return recipe


def init_distributed() -> tuple[int, int]:
    """(rank, world size); under torchrun the process group is set up once."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("FER_DEVICE", "auto") != "cpu" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        torch.distributed.init_process_group(backend)
    if torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def shared_run(create: Callable[[], Run]) -> Run:
    """The run every rank trains into: rank 0 makes it (``create()``), the others get its folder."""
    run_ = create() if int(os.environ.get("RANK", "0")) == 0 else None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        init_distributed()
        box = [str(run_.folder) if run_ else None]
        torch.distributed.broadcast_object_list(box, src=0)
        run_ = Run(Path(box[0]))
    return run_


def run(folder: Path, control: Control | None = None, log: Callable[[str], None] = print,
        on_epoch: EpochHook | None = None) -> dict:
    """Train the run in ``folder``; returns its state (finished, cancelled or pruned), epochs done
    and best value. ``control`` hears the progress and says when to stop (default: nobody stops
    it); ``on_epoch`` hears each epoch's validation figures and may stop the run there (a sweep's
    pruner). The run's status is its caller's to write (``fer.jobs`` runs this in the harness)."""
    control = control or Unattended()
    run_ = Run(Path(folder))
    rank, world = init_distributed()
    quiet = rank != 0
    try:
        t = setup(run_, prepare(run_.config()), rank, world, (lambda *a, **k: None) if quiet else log)
        t.on_epoch = on_epoch
        state = train_epochs(t, control)
        if state == "finished" and not quiet:
            state = _finish_unless_cancelled(t, control)
    finally:
        if world > 1:
            torch.distributed.destroy_process_group()
    return {"state": state, "epoch": t.progress["epoch"], "best": t.progress["best"],
            "best_epoch": t.progress["best_epoch"]}


# -- setup ----------------------------------------------------------------------------------

@dataclass
class Training:
    """A run being trained: what ``setup`` built and the epoch loop works with."""
    run: Run
    recipe: Recipe
    rank: int
    world: int
    log: Callable[[str], None]
    device: torch.device
    splits: dict[str, arrays.Split]
    model: nn.Module  # the bare model (saved, evaluated)
    step: engine.Step  # its forward pass may be DDP's
    trainable: set[str]  # what the transfer mode trains
    head: set[str]  # what trains during the head warm-up
    meta: dict  # model.json without its metrics
    generator: torch.Generator  # the augmentation's, on the device
    on_epoch: EpochHook | None = None  # told of each epoch's validation; True stops the run ("pruned")
    targets: torch.Tensor | None = None  # per-image soft targets when distilling (N × classes)
    progress: dict = field(default_factory=lambda: {
        "epoch": 0, "step": 0, "best": None, "best_epoch": None, "best_val_loss": float("inf"), "bad_epochs": 0,
        "seconds": 0.0})
    position: engine.EpochState | None = None  # where a checkpoint taken inside an epoch stopped
    saved_at: float = field(default_factory=time.monotonic)  # when the last checkpoint was written

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def eval_model(self) -> nn.Module:
        """What validation sees: the EMA of the weights when there is one."""
        return self.step.ema.module if self.step.ema is not None else self.model


def setup(run_: Run, recipe: Recipe, rank: int, world: int, log: Callable[[str], None]) -> Training:
    """Seeds, device, data, model, optimizer, loss, augmentation and schedule; resumes from the
    run's checkpoint when it has one."""
    torch.manual_seed(recipe.seed + rank)
    np.random.seed(recipe.seed)
    random.seed(recipe.seed)
    device = _device(recipe, world)
    splits = _load_data(recipe, log)
    model, trainable, head = _build_model(recipe, device)
    mean_l, std_l = normalisation(model, recipe.model.channels)
    optimizer = _optimizer(recipe, model)
    step = engine.Step(
        model=torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True) if world > 1 else model,
        optimizer=optimizer, loss_fn=_loss(recipe, splits["train"].labels, device),
        augment=BatchAugment(recipe.model.input_size, **asdict(recipe.augment)),
        mean=torch.tensor(mean_l, device=device).view(1, -1, 1, 1), std=torch.tensor(std_l, device=device).view(1, -1, 1, 1),
        device=device, lr_at=_schedule(recipe, optimizer, _per_rank(len(splits["train"]), world)), mixup=_mixup(recipe),
        ema=_ema(recipe, model), amp_dtype=torch.bfloat16 if device.type == "cuda" and recipe.amp else None,
        channels_last=recipe.channels_last)
    t = Training(run=run_, recipe=recipe, rank=rank, world=world, log=log, device=device, splits=splits, model=model,
                 step=step, trainable=trainable, head=head, meta=_model_meta(recipe, mean_l, std_l),
                 generator=torch.Generator(device=device if device.type == "cuda" else "cpu"),
                 targets=_distill_targets(recipe, splits["train"], device, log))
    _resume(t)
    return t


def _per_rank(n: int, world: int) -> int:
    """Samples each rank visits an epoch: the order padded to a multiple of the world size."""
    return -(-n // world)


def _device(recipe: Recipe, world: int) -> torch.device:
    device = models.pick_device(recipe.device)
    if world > 1 and device.type == "cuda":
        device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    return device


def _load_data(recipe: Recipe, log) -> dict[str, arrays.Split]:
    size, channels = recipe.model.input_size, recipe.model.channels
    log(f"loading {recipe.dataset} at {size}px, {channels} channel(s)")
    splits = arrays.load(recipe.dataset, size, channels)
    data.check_classes(splits)
    log(f"train {len(splits['train'])}, val {len(splits['val'])}, test {len(splits['test'])} images")
    return splits


def _build_model(recipe: Recipe, device: torch.device) -> tuple[nn.Module, set[str], set[str]]:
    """The model on the device in its transfer mode; (model, what trains, the head)."""
    m = recipe.model
    model = models.build(m.block())
    model = model.to(device, memory_format=torch.channels_last if recipe.channels_last else torch.preserve_format)
    transfer.set_transfer(model, m.transfer, m.partial_stages)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    return model, trainable, set(transfer.head_parameters(model))


def _optimizer(recipe: Recipe, model: nn.Module) -> torch.optim.Optimizer:
    o = recipe.optimizer
    groups = transfer.param_groups(model, o.lr, o.head_lr, o.weight_decay)
    return (torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam)(groups, lr=o.lr)


def _schedule(recipe: Recipe, optimizer: torch.optim.Optimizer, images_per_rank: int) -> Callable[[int], list]:
    """Each parameter group's rate at a step: linear warm-up, then cosine (or constant), per step."""
    s, base_lrs = recipe.schedule, [g["lr"] for g in optimizer.param_groups]
    steps_per_epoch = engine.batches_per_epoch(images_per_rank, recipe.batch_size)
    total, warmup = steps_per_epoch * recipe.epochs, s.warmup_epochs * steps_per_epoch

    def lr_at(step: int) -> list[float]:
        f = engine.cosine_lr(step, total, warmup, 1.0, s.min_lr / recipe.optimizer.lr, s.name == "cosine")
        return [lr * f for lr in base_lrs]

    return lr_at


def _loss(recipe: Recipe, train_labels: np.ndarray, device: torch.device) -> Callable:
    """Cross-entropy with label smoothing (and class weights), on hard or mixup's soft targets."""
    weights = torch.as_tensor(data.class_weights(train_labels), dtype=torch.float32, device=device) \
        if recipe.loss.class_weights else None
    ce = nn.CrossEntropyLoss(weight=weights, label_smoothing=recipe.loss.label_smoothing)

    def loss_fn(logits, target):
        if target.ndim == 2:  # soft targets from mixup
            per = -(target * torch.log_softmax(logits.float(), dim=1))
            if weights is not None:
                per = per * weights
            return per.sum(1).mean()
        return ce(logits.float(), target)

    return loss_fn


def _distill_targets(recipe: Recipe, train: arrays.Split, device: torch.device, log) -> torch.Tensor | None:
    """The teachers' soft targets for the train images (``distill.teachers``), or None."""
    d = recipe.distill
    if not d.teachers:
        return None
    teachers = distill.teacher_probabilities(d.teachers, recipe.dataset, train.rows, device, log)
    targets = distill.soft_targets(train.labels, teachers, d.weight, d.temperature, recipe.loss.label_smoothing)
    agree = float((teachers.argmax(1) == train.labels).mean())
    log(f"distilling from {len(d.teachers)} teacher(s): they agree with {agree:.1%} of the train labels")
    return torch.from_numpy(targets).to(device)


def _mixup(recipe: Recipe):
    if recipe.mixup.alpha <= 0:
        return None
    return Mixup(mixup_alpha=recipe.mixup.alpha, prob=recipe.mixup.prob, mode="batch",
                 label_smoothing=recipe.loss.label_smoothing, num_classes=NUM_CLASSES)


def _ema(recipe: Recipe, model: nn.Module):
    if not recipe.ema.enabled:
        return None
    return ModelEmaV3(model, decay=recipe.ema.decay, use_warmup=recipe.ema.warmup)


def _resume(t: Training) -> None:
    """Weights, optimizer, EMA, counters, position in the epoch and every generator from the
    run's newest usable checkpoint, when it has one; the epochs recorded after it are dropped."""
    def apply(ck: dict) -> None:
        t.model.load_state_dict(ck["model"])
        t.step.optimizer.load_state_dict(ck["optimizer"])
        if t.step.ema is not None and "ema" in ck:
            t.step.ema.module.load_state_dict(ck["ema"])
        rngs = ck.get("rng") or []
        if len(rngs) == t.world:  # a different world size cannot continue every rank's draws
            checkpoints.restore_rng(rngs[t.rank], t.generator)
        t.progress.update(ck["state"])
        t.position = engine.EpochState(**ck["position"]) if ck.get("position") else None

    used, problems = checkpoints.load(t.run, apply)
    for problem in problems:
        t.log(f"warning: {problem}; resuming from {used.name if used else 'the start'}")
    if t.main:  # (with no checkpoint, epochs recorded by a process that never saved one are redone)
        _trim_history(t.run, t.progress["epoch"])
    if used is None:
        return
    where = f", batch {t.position.batch + 1}" if t.position else ""
    t.log(f"resuming at epoch {t.progress['epoch'] + 1}{where}")


def _trim_history(run_: Run, epochs_done: int) -> None:
    """metrics.jsonl without the epochs after the checkpoint resumed from: they are trained again."""
    records = run_.metrics()
    kept = [m for m in records if not (m.get("kind") == "epoch" and isinstance(m.get("epoch"), int)
                                       and m["epoch"] > epochs_done)]
    if len(kept) < len(records):
        store.write_text(run_.metrics_path, "".join(json.dumps(m) + "\n" for m in kept))


# -- the epoch loop -------------------------------------------------------------------------

def train_epochs(t: Training, control: Control) -> str:
    """Epochs until the last, an early stop, SIGTERM or the epoch hook's stop; returns ``finished``,
    ``cancelled`` or ``pruned``."""
    images, labels = torch.from_numpy(t.splits["train"].images), torch.from_numpy(t.splits["train"].labels)
    if t.device.type == "cuda":  # the whole uint8 cache on the device; augmentation happens there too
        images, labels = images.to(t.device), labels.to(t.device)
    while t.progress["epoch"] < t.recipe.epochs:
        epoch, at = t.progress["epoch"], t.position or engine.EpochState()
        t.position = None
        if at.batch == 0:  # a resumed epoch goes on with the generator's saved state
            t.generator.manual_seed(t.recipe.seed * 1000 + epoch * t.world + t.rank)
        epoch_data = engine.EpochData(images, labels, _epoch_order(t, epoch), t.recipe.batch_size, t.generator,
                                      t.targets)
        stats = _train_epoch(t, epoch, epoch_data, at, control)
        vs = _validate_unless_stopped(t, control) if stats["complete"] else None
        if vs is None:
            t.log("stopping: SIGTERM received")
            _save_checkpoint(t, at)
            _keep_weights(t)
            return "cancelled"
        t.progress["step"] += stats["steps"]
        t.progress["seconds"] += stats["seconds"]
        _end_epoch(t, epoch, stats, vs)
        _save_checkpoint(t, None)
        if t.on_epoch is not None and t.on_epoch(epoch + 1, vs):
            t.log(f"pruned after epoch {epoch + 1}: its sweep stops this trial")
            return "pruned"
        if t.recipe.early_stopping.patience and t.progress["bad_epochs"] >= t.recipe.early_stopping.patience:
            t.log(f"early stop: val loss has not improved for {t.recipe.early_stopping.patience} epochs")
            break
    return "finished"


def _epoch_order(t: Training, epoch: int) -> torch.Tensor:
    """This rank's share of the epoch's order. Every rank draws the same order (same seed), padded
    with its first samples to a multiple of the world size: every rank takes as many steps."""
    order_gen = torch.Generator().manual_seed(t.recipe.seed * 1000 + epoch)
    order = data.epoch_indices(t.splits["train"].labels, t.recipe.sampler.balanced, order_gen)
    total = _per_rank(len(order), t.world) * t.world
    if total > len(order):
        order = order.repeat(-(-total // len(order)))[:total]
    return order[t.rank::t.world].to(t.device)


def _train_epoch(t: Training, epoch: int, epoch_data: engine.EpochData, at: engine.EpochState,
                 control: Control) -> dict:
    """The epoch's batches from ``at`` on: stopped by SIGTERM, checkpointed every few minutes."""
    warm = epoch < t.recipe.model.warmup_head_epochs
    for n, p in t.model.named_parameters():  # the head alone during the warm-up, then the transfer mode
        p.requires_grad = (n in t.head) if warm else (n in t.trainable)

    def progress(p: dict) -> None:
        if t.main:
            t.run.append_metrics({"kind": "progress", "epoch": epoch + 1, **p})
            control.progress(epoch=epoch + 1, progress=p["batch"] / p["batches"])

    def after_batch(state: engine.EpochState) -> bool:
        every = t.recipe.checkpoint.every_seconds
        stop, due = _agree(t, control.should_stop(), bool(every) and time.monotonic() - t.saved_at >= every)
        if due and not stop:
            _save_checkpoint(t, state)
        return stop

    t.step.model.train()
    transfer.freeze_norm_stats(t.model)  # norms of frozen layers keep their statistics
    stats = engine.train_one_epoch(t.step, epoch_data, t.progress["step"], at, after_batch, progress)
    return {**_reduced(t, stats), "head_only": warm}


def _agree(t: Training, *flags: bool) -> list[bool]:
    """Flags every rank acts on alike (any rank's True counts): ranks stop and save on one batch."""
    if t.world == 1:
        return list(flags)
    box = torch.tensor([float(f) for f in flags], device=t.device)
    torch.distributed.all_reduce(box, op=torch.distributed.ReduceOp.MAX)
    return [bool(v) for v in box.tolist()]


def _reduced(t: Training, stats: dict) -> dict:
    """The epoch's loss, accuracy and speed over every rank's samples."""
    if t.world == 1:
        return stats
    sums = torch.tensor([stats["train_loss"] * stats["seen"], stats["train_accuracy"] * stats["seen"],
                         float(stats["seen"])], dtype=torch.float64, device=t.device)
    torch.distributed.all_reduce(sums)
    loss, correct, seen = sums.tolist()
    return {**stats, "train_loss": loss / max(seen, 1), "train_accuracy": correct / max(seen, 1), "seen": int(seen),
            "images_per_s": seen / max(stats["seconds"], 1e-9)}


def _validate_unless_stopped(t: Training, control: Control) -> dict | None:
    """The epoch's validation figures, or None when a stop came before or during it (alone, it
    interrupts the validation at once; under DDP every rank finishes it, then all stop together)."""
    if t.world > 1:
        vs = _validate(t)
        return None if _agree(t, control.should_stop())[0] else vs
    done, vs = control.stoppable(lambda: _validate(t))
    return vs if done else None


def _validate(t: Training) -> dict:
    """Validation figures of the eval model; under DDP each rank predicts its share of the images
    and every rank gets the figures of all of them."""
    val = t.splits["val"]
    share = np.arange(len(val))[t.rank::t.world]
    probs = models.predict(t.eval_model, val.images[share], t.step.mean, t.step.std, t.device,
                           channels_last=t.recipe.channels_last, flip=t.recipe.tta.flip, amp_dtype=t.step.amp_dtype)
    if t.world > 1:
        parts = [None] * t.world
        torch.distributed.all_gather_object(parts, (share, probs))
        probs = np.zeros((len(val), probs.shape[1]), dtype=probs.dtype)
        for idx, p in parts:
            probs[idx] = p
    return metrics.summary(val.labels, probs)


def _end_epoch(t: Training, epoch: int, stats: dict, vs: dict) -> None:
    """Log and record the epoch, keep the best weights (by the monitored figure) and count the
    epochs without a better val loss."""
    t.log(f"epoch {epoch + 1}/{t.recipe.epochs}: train loss {stats['train_loss']:.4f} acc {stats['train_accuracy']:.3f}"
          f" | val loss {vs['loss']:.4f} acc {vs['accuracy']:.3f} F1 {vs['macro_f1']:.3f}"
          f" | {stats['images_per_s']:.0f} img/s, {stats['seconds']:.0f} s")
    p = t.progress
    p["epoch"] = epoch + 1
    value = MONITORS[t.recipe.checkpoint.monitor](vs)
    if t.main:
        t.run.append_metrics({
            "kind": "epoch", "epoch": epoch + 1, "train_loss": stats["train_loss"],
            "train_accuracy": stats["train_accuracy"], "train_images": stats["seen"], "val_loss": vs["loss"],
            "val_accuracy": vs["accuracy"],
            "val_macro_f1": vs["macro_f1"], "lr": t.step.optimizer.param_groups[0]["lr"],
            "epoch_seconds": stats["seconds"], "images_per_s": stats["images_per_s"], "head_only": stats["head_only"],
            "cpu_seconds": stats["cpu_seconds"], "threads": torch.get_num_threads(),
            "time": time.time()})
    if p["best"] is None or value > p["best"]:
        p["best"], p["best_epoch"] = value, epoch + 1
        if t.main:
            val = {k: vs[k] for k in ("accuracy", "macro_f1", "loss", "n")}
            models.save(t.run.folder, t.eval_model, {**t.meta, "metrics": {"best_epoch": epoch + 1, "val": val}})
    if vs["loss"] < p["best_val_loss"]:
        p["best_val_loss"], p["bad_epochs"] = vs["loss"], 0
    else:
        p["bad_epochs"] += 1


def _save_checkpoint(t: Training, position: engine.EpochState | None) -> None:
    """Weights, optimizer, EMA, counters, the position inside the epoch (None at its end) and
    every rank's generators; rank 0 writes it. Every rank calls it (the generators are gathered)."""
    rng = checkpoints.rng_state(t.generator)
    rngs = [rng]
    if t.world > 1:
        rngs = [None] * t.world
        torch.distributed.all_gather_object(rngs, rng)
    t.saved_at = time.monotonic()
    if not t.main:
        return
    ck = {"model": models.unwrap(t.model).state_dict(), "optimizer": t.step.optimizer.state_dict(),
          "state": dict(t.progress), "position": vars(position).copy() if position else None, "rng": rngs}
    if t.step.ema is not None:
        ck["ema"] = t.step.ema.module.state_dict()
    checkpoints.save(t.run, ck)


def _keep_weights(t: Training) -> None:
    """A run stopped before its first validation still leaves weights that load (model.safetensors),
    so it can be tried on Predict; its first validated epoch replaces them."""
    if t.main and not t.run.has_weights:
        note = f"stopped in epoch {t.progress['epoch'] + 1} before any validation: the weights as they were"
        models.save(t.run.folder, t.eval_model, {**t.meta, "metrics": {"best_epoch": None, "note": note}})


def _finish_unless_cancelled(t: Training, control: Control) -> str:
    """``finish`` (the final evaluation), which a stop interrupts at once: then ``cancelled``, the
    weights kept, and a resume evaluates again."""
    done, _ = control.stoppable(lambda: finish(t))
    if done:
        return "finished"
    t.log("stopping: SIGTERM during the final evaluation (the trained weights are kept; Resume evaluates)")
    return "cancelled"


# -- finish ---------------------------------------------------------------------------------

def finish(t: Training) -> None:
    """Evaluate the best weights on the recipe's splits; complete model.json with the figures."""
    best_model, meta = models.load(t.run.folder, device=str(t.device))
    for split in t.recipe.eval_splits:
        if len(t.splits[split]):
            ev = Evaluation.for_model(t.run.model(), t.recipe.dataset, split)
            out = write_evaluation(best_model, meta, t.splits[split], ev, device=t.device)
            meta["metrics"][split] = {k: out[k] for k in ("n", "accuracy", "macro_precision", "macro_recall",
                                                          "macro_f1", "top3_accuracy", "loss")}
            t.log(f"{split}: accuracy {out['accuracy']:.4f}, macro-F1 {out['macro_f1']:.4f} ({out['n']} images)")
    meta["metrics"]["epochs_run"] = t.progress["epoch"]
    meta["metrics"]["train_seconds"] = round(t.progress["seconds"], 1)
    models.write_meta(t.run.folder, meta)


def _model_meta(recipe: Recipe, mean: list[float], std: list[float]) -> dict:
    """model.json but its metrics: how to rebuild and feed the model, and where it came from."""
    m = recipe.model
    info = dataset.info(recipe.dataset)
    crop = info.get("crop")
    face = ({k: crop[k] for k in ("detector", "align", "margin", "size", "grayscale")} if crop else
            {"detector": "mtcnn", "align": True, "margin": 0.3, "size": m.input_size, "grayscale": m.channels == 1,
             "note": "the dataset was not aligned: training saw centre crops of whole images"})
    return {
        "architecture": m.backbone, "classes": list(CLASSES), "input_size": m.input_size,
        "channels": m.channels, "dropout": m.dropout,
        "normalisation": {"mean": mean, "std": std, "scale": "uint8 / 255, then (x - mean) / std"},
        "tta": {"flip": recipe.tta.flip},
        "face": face,
        "data": {"dataset": recipe.dataset, "manifest_hash": arrays.manifest_hash(recipe.dataset),
                 "splits": info.get("splits"), "sources": {k: v["format"] for k, v in info["sources"].items()}},
        "training": {"config": recipe.config},
        **models.environment(),
        "created": now(),
    }
