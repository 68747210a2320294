"""A training run from its folder: data, model, recipe, epochs, checkpoints, final evaluation.

``run(folder)`` trains the config in ``folder/config.yaml`` and writes everything DESIGN.md lists
into the folder. It resumes from ``last.pt`` when there is one, stops cleanly on SIGTERM (saves,
writes ``cancelled``), and under ``torchrun`` trains with DistributedDataParallel (rank 0 writes).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from fer import models, store
from fer.jobs import job_harness
from fer.data import dataset
from fer.labels import CLASSES, NUM_CLASSES
from fer.training import config as C
from fer.data import arrays
from fer.evaluation import metrics, write_evaluation
from fer.store import Evaluation, Run, now
from fer.models import normalisation
from fer.training import data, engine, transfer
from fer.training.augment import BatchAugment


def pick_device(name: str) -> torch.device:
    name = os.environ.get("FER_DEVICE") or name or "auto"
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name}: no CUDA device here; use cpu or auto")
    return torch.device(name)


def prepare(cfg: dict) -> None:
    """Everything that can be checked before training: config, dataset, backbone."""
    C.validate(cfg)
    try:
        dataset.info(cfg["dataset"])
    except dataset.DatasetError as e:
        raise C.ConfigError(f"dataset: {e}") from None
    if not models.known(cfg["model"]["backbone"]):
        raise C.ConfigError(f"model.backbone: unknown backbone {cfg['model']['backbone']!r} (a timm model name, "
                            "fer_cnn or facenet_vggface2)")


def init_distributed() -> tuple[int, int]:
    """(rank, world size); under torchrun the process group is set up once."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("FER_DEVICE", "auto") != "cpu" else "gloo"
        torch.distributed.init_process_group(backend)
    if torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def shared_run(create) -> Run:
    """The run every rank trains into: rank 0 makes it (``create()``), the others get its folder."""
    run_ = create() if int(os.environ.get("RANK", "0")) == 0 else None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        init_distributed()
        box = [str(run_.folder) if run_ else None]
        torch.distributed.broadcast_object_list(box, src=0)
        run_ = Run(Path(box[0]))
    return run_


def run(folder: Path, log=print) -> dict:
    run_ = Run(Path(folder))
    cfg = C.resolve(run_.config())  # keys added since the run was made take their defaults
    prepare(cfg)
    rank, world = init_distributed()
    main = rank == 0
    with job_harness(run_.folder, enabled=main) as job:
        result = _train(run_, cfg, rank, world, job, log if main else (lambda *a, **k: None))
        job.end(result["state"], epoch=result["epoch"])
        job.closing = f"run {run_.id}: {result['state']} after {result['epoch']} epochs; wrote {run_.folder}"
    if world > 1:
        torch.distributed.destroy_process_group()
    return result


def _train(run_: Run, cfg: dict, rank: int, world: int, job, log) -> dict:
    folder = run_.folder
    stop, beat = job.should_stop, job if rank == 0 else None
    torch.manual_seed(cfg["seed"] + rank)
    np.random.seed(cfg["seed"])
    device = pick_device(cfg["device"])
    if world > 1 and device.type == "cuda":
        device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    m, o, s = cfg["model"], cfg["optimizer"], cfg["schedule"]
    size, channels = m["input_size"], m["channels"]
    log(f"loading {cfg['dataset']} at {size}px, {channels} channel(s)")
    splits = arrays.load(cfg["dataset"], size, channels)
    data.check_classes(splits)
    train, val = splits["train"], splits["val"]
    log(f"train {len(train)}, val {len(val)}, test {len(splits['test'])} images")

    model = models.build(m)
    mean_l, std_l = normalisation(model, channels)
    cuda = device.type == "cuda"
    channels_last = cfg["channels_last"]
    model = model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
    transfer.set_transfer(model, m["transfer"], m["partial_stages"])
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    groups = transfer.param_groups(model, o["lr"], o["head_lr"], o["weight_decay"])
    opt_cls = torch.optim.AdamW if o["name"] == "adamw" else torch.optim.Adam
    optimizer = opt_cls(groups, lr=o["lr"])
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    head_only = set(transfer.head_parameters(model))

    ema = None
    if cfg["ema"]["enabled"]:
        from timm.utils import ModelEmaV3

        ema = ModelEmaV3(model, decay=cfg["ema"]["decay"], use_warmup=cfg["ema"]["warmup"])
    mixup = None
    if cfg["mixup"]["alpha"] > 0:
        from timm.data import Mixup

        mixup = Mixup(mixup_alpha=cfg["mixup"]["alpha"], prob=cfg["mixup"]["prob"], mode="batch",
                      label_smoothing=cfg["loss"]["label_smoothing"], num_classes=NUM_CLASSES)
    weights = torch.as_tensor(data.class_weights(train.labels), dtype=torch.float32, device=device) \
        if cfg["loss"]["class_weights"] else None
    ce = nn.CrossEntropyLoss(weight=weights, label_smoothing=cfg["loss"]["label_smoothing"])

    def loss_fn(logits, target):
        if target.ndim == 2:  # soft targets from mixup
            logp = torch.log_softmax(logits.float(), dim=1)
            per = -(target * logp)
            if weights is not None:
                per = per * weights
            return per.sum(1).mean()
        return ce(logits.float(), target)

    model_ddp = model
    if world > 1:
        model_ddp = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    amp_dtype = torch.bfloat16 if cuda and cfg["amp"] else None
    augment = BatchAugment.from_config(cfg["augment"], size)
    images = torch.from_numpy(train.images)
    labels = torch.from_numpy(train.labels)
    if cuda:  # the whole uint8 cache on the device; augmentation happens there too
        images, labels = images.to(device), labels.to(device)
    mean = torch.tensor(mean_l, device=device).view(1, -1, 1, 1)
    std = torch.tensor(std_l, device=device).view(1, -1, 1, 1)
    per_rank = len(train) // world
    steps_per_epoch = max(1, per_rank // cfg["batch_size"])
    total_steps = steps_per_epoch * cfg["epochs"]
    warmup_steps = s["warmup_epochs"] * steps_per_epoch

    def lr_at(step):
        f = engine.cosine_lr(step, total_steps, warmup_steps, 1.0, s["min_lr"] / o["lr"], s["name"] == "cosine")
        return [lr * f for lr in base_lrs]

    state = {"epoch": 0, "step": 0, "best": None, "best_epoch": None, "best_val_loss": float("inf"), "bad_epochs": 0,
             "seconds": 0.0}
    last = run_.checkpoint_path
    if last.exists():  # resume: weights, optimizer, EMA, counters and random state
        ck = torch.load(last, map_location=device, weights_only=True)
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        if ema is not None and "ema" in ck:
            ema.module.load_state_dict(ck["ema"])
        state.update(ck["state"])
        log(f"resuming at epoch {state['epoch'] + 1}")
    monitor = cfg["checkpoint"]["monitor"]
    g = torch.Generator(device=device if cuda else "cpu")
    meta_base = _model_meta(cfg, mean_l, std_l)
    final_state = "finished"

    for epoch in range(state["epoch"], cfg["epochs"]):
        g.manual_seed(cfg["seed"] * 1000 + epoch * world + rank)
        warm = epoch < m["warmup_head_epochs"]
        for n, p in model.named_parameters():  # head alone during the warm-up, then the transfer mode
            p.requires_grad = (n in head_only) if warm else (n in trainable)
        # every rank draws the same epoch order (same seed) and takes its own share of it
        order_gen = torch.Generator().manual_seed(cfg["seed"] * 1000 + epoch)
        order = data.epoch_indices(train.labels, cfg["sampler"]["balanced"], order_gen)[rank::world].to(device)

        def progress(p, epoch=epoch):
            if beat:
                run_.append_metrics({"kind": "progress", "epoch": epoch + 1, **p})
                beat.progress(epoch=epoch + 1, progress=p["batch"] / p["batches"])

        model_ddp.train()
        transfer.freeze_norm_stats(model)  # norms of frozen layers keep their statistics
        stats = engine.train_one_epoch(
            model_ddp, images, labels, order, batch_size=cfg["batch_size"], optimizer=optimizer, loss_fn=loss_fn,
            augment=augment, generator=g, mean=mean, std=std, device=device, lr_at=lr_at, step0=state["step"],
            mixup=mixup, ema=ema, amp_dtype=amp_dtype, channels_last=channels_last, should_stop=stop,
            on_progress=progress)
        if stop():
            final_state = "cancelled"
            log("stopping: SIGTERM received")
            _save_last(run_, model, optimizer, ema, state, rank)
            break
        state["step"] += stats["steps"]
        eval_model = ema.module if ema is not None else model
        probs = models.predict(eval_model, val.images, mean, std, device, channels_last=channels_last,
                               amp_dtype=amp_dtype)
        vs = metrics.summary(val.labels, probs)
        state["seconds"] += stats["seconds"]
        record = {"kind": "epoch", "epoch": epoch + 1, "train_loss": stats["train_loss"],
                  "train_accuracy": stats["train_accuracy"], "val_loss": vs["loss"], "val_accuracy": vs["accuracy"],
                  "val_macro_f1": vs["macro_f1"], "lr": optimizer.param_groups[0]["lr"],
                  "epoch_seconds": stats["seconds"], "images_per_s": stats["images_per_s"], "head_only": warm,
                  "time": time.time()}
        log(f"epoch {epoch + 1}/{cfg['epochs']}: train loss {stats['train_loss']:.4f} acc {stats['train_accuracy']:.3f}"
            f" | val loss {vs['loss']:.4f} acc {vs['accuracy']:.3f} F1 {vs['macro_f1']:.3f}"
            f" | {stats['images_per_s']:.0f} img/s, {stats['seconds']:.0f} s")
        value = {"val_macro_f1": vs["macro_f1"], "val_accuracy": vs["accuracy"], "val_loss": -vs["loss"]}[monitor]
        state["epoch"] = epoch + 1
        if rank == 0:
            run_.append_metrics(record)
            if state["best"] is None or value > state["best"]:
                state["best"], state["best_epoch"] = value, epoch + 1
                meta = {**meta_base, "metrics": {"best_epoch": epoch + 1, "val": {k: vs[k] for k in (
                    "accuracy", "macro_f1", "loss", "n")}}}
                models.save(folder, eval_model, meta)
        if vs["loss"] < state["best_val_loss"]:
            state["best_val_loss"], state["bad_epochs"] = vs["loss"], 0
        else:
            state["bad_epochs"] += 1
        _save_last(run_, model, optimizer, ema, state, rank)
        patience = cfg["early_stopping"]["patience"]
        if patience and state["bad_epochs"] >= patience:
            log(f"early stop: val loss has not improved for {patience} epochs")
            break

    if final_state == "finished" and rank == 0:
        best_model, meta = models.load(folder, device=str(device))
        for split in cfg["eval_splits"]:
            if len(splits[split]):
                out = write_evaluation(best_model, meta, splits[split],
                                       Evaluation.for_model(run_.model(), cfg["dataset"], split), device=device)
                meta["metrics"][split] = {k: out[k] for k in ("n", "accuracy", "macro_precision", "macro_recall",
                                                              "macro_f1", "top3_accuracy", "loss")}
                log(f"{split}: accuracy {out['accuracy']:.4f}, macro-F1 {out['macro_f1']:.4f} ({out['n']} images)")
        meta["metrics"]["epochs_run"] = state["epoch"]
        meta["metrics"]["train_seconds"] = round(state["seconds"], 1)
        models.write_meta(folder, meta)
    return {"state": final_state, "epoch": state["epoch"], "best": state["best"], "best_epoch": state["best_epoch"]}


def _save_last(run_: Run, model, optimizer, ema, state: dict, rank: int) -> None:
    if rank:
        return
    ck = {"model": models.unwrap(model).state_dict(), "optimizer": optimizer.state_dict(), "state": state}
    if ema is not None:
        ck["ema"] = ema.module.state_dict()
    store.atomic_write(run_.checkpoint_path, lambda tmp: torch.save(ck, tmp))


def _model_meta(cfg: dict, mean: list[float], std: list[float]) -> dict:
    m = cfg["model"]
    info = dataset.info(cfg["dataset"])
    crop = info.get("crop")
    face = ({k: crop[k] for k in ("detector", "align", "margin", "size", "grayscale")} if crop else
            {"detector": "mtcnn", "align": True, "margin": 0.3, "size": m["input_size"], "grayscale": m["channels"] == 1,
             "note": "the dataset was not aligned: training saw centre crops of whole images"})
    return {
        "architecture": m["backbone"], "classes": list(CLASSES), "input_size": m["input_size"],
        "channels": m["channels"], "dropout": m["dropout"],
        "normalisation": {"mean": mean, "std": std, "scale": "uint8 / 255, then (x - mean) / std"},
        "face": face,
        "data": {"dataset": cfg["dataset"], "manifest_hash": arrays.manifest_hash(cfg["dataset"]),
                 "splits": info.get("splits"), "sources": {k: v["format"] for k, v in info["sources"].items()}},
        "training": {"config": cfg},
        **models.environment(),
        "created": now(),
    }
