"""The GPU kit: train the members of a stronger FER2013 ensemble on one CUDA GPU, within a budget
of minutes, on a machine that has CUDA, torch, torchvision, timm, numpy, safetensors and PyYAML
and nothing else of FER Studio's (no network, small uploads and downloads).

    # here, on the CPU (the app installed): the data as one file of the JPEG bytes as they are
    python gpu_kit/kit.py pack ../shared/data/fer2013.zip --out fer2013.pack       # ~49 MiB
    # there, on the GPU (this checkout and the pack uploaded):
    python gpu_kit/kit.py train fer2013.pack --out kit_out --budget 8
    # here again (kit_out downloaded): the members become a version of default
    python -m fer model ensemble default --member kit_out/member-1 --member kit_out/member-2 --flip
    python -m fer model calibrate default --dataset fer2013

The pack holds FER2013's Training images (train) and PublicTest (val) only, never PrivateTest: the
kit chooses each member's epoch on PublicTest and never sees the test split. On the GPU the
JPEGs are decoded by ``torchvision.io.decode_jpeg`` and the whole training set stays in GPU
memory; augmentation runs there too, a batch at a time.

Each member follows the seed study's recipe: a ``fer_cnn`` (FER Studio's own network, imported
from ``fer/models/fer_cnn.py``, which needs torch alone) or any timm model, at 48–96 px, AdamW,
warm-up then cosine, label smoothing, mixup, an EMA of the weights, per-sample random crops,
flips, small rotations, brightness and contrast; its best epoch by PublicTest accuracy (of the
EMA weights). Members differ by seed. The budget (``--budget`` minutes, start-up and decoding
included) is planned from timed steps: a member that would not finish in what is left is not
started, and one that is cut by the deadline is not kept; each finished member is written at
once (model.json, fp16 safetensors, its figures), so a cut run still returns the finished ones.
``kit_out/card.md`` and ``kit_out/summary.json`` say what was trained, on what, and how well.

``--dry-run`` runs the same code on the CPU with 2 batches an epoch (the test suite does).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import sys
import time
import zipfile
from pathlib import Path

START = time.monotonic()  # the budget counts from here: imports and decoding included
REPO = Path(__file__).resolve().parent.parent
FORMAT = "fer-studio-gpu-pack/1"
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # FER Studio's label ids
SPLITS = {"train": "/train/", "val": "/PublicTest_"}  # the zip's Training and PublicTest images
# FER Studio's preparation of a photo's face for a 48-px FER2013 model (the shipped default's)
FACE = {"detector": "mtcnn", "align": True, "margin": -0.04, "size": 48, "grayscale": True}
NORMALISATION = {"mean": [0.5], "std": [0.25]}


# -- pack (the CPU side) --------------------------------------------------------------------

def split_of(name: str) -> str | None:
    """train, val or None (PrivateTest, folders, other files) for a member of the FER2013 zip."""
    if not name.lower().endswith((".jpg", ".jpeg")):
        return None
    if SPLITS["train"] in name:
        return "train"
    return "val" if SPLITS["val"] in name else None


def pack(zip_path: Path, out: Path) -> dict:
    """The train and PublicTest JPEGs of a FER2013 zip (image-folder form: <split>/<class>/x.jpg)
    as one safetensors file: per split the bytes end to end, their offsets and the labels."""
    import numpy as np
    from safetensors.numpy import save_file

    digest = hashlib.sha256()
    with open(zip_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    parts: dict[str, tuple[list[bytes], list[int]]] = {"train": ([], []), "val": ([], [])}
    with zipfile.ZipFile(zip_path) as zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            split = split_of(info.filename)
            cls = info.filename.replace("\\", "/").split("/")[-2].lower() if split else None
            if split is None or cls not in CLASSES:
                continue
            parts[split][0].append(zf.read(info))
            parts[split][1].append(CLASSES.index(cls))
    if not parts["train"][0] or not parts["val"][0]:
        raise ValueError(f"{zip_path}: no train/<class>/*.jpg or PublicTest_*.jpg images (FER2013's image-folder form)")
    tensors, counts = {}, {}
    for split, (blobs, labels) in parts.items():
        tensors[f"{split}_jpeg"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        tensors[f"{split}_offsets"] = np.cumsum([0] + [len(b) for b in blobs], dtype=np.int64)
        tensors[f"{split}_labels"] = np.asarray(labels, dtype=np.uint8)
        counts[split] = len(blobs)
    meta = {"format": FORMAT, "classes": json.dumps(CLASSES), "splits": json.dumps(counts),
            "source": json.dumps({"file": Path(zip_path).name, "sha256": digest.hexdigest()}),
            "face": json.dumps(FACE), "normalisation": json.dumps(NORMALISATION)}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(out)
    return {"out": str(out), "mib": round(out.stat().st_size / 2**20, 1), **counts}


# -- train (the GPU side) -------------------------------------------------------------------

def load_pack(path: Path, device):
    """(images per split as uint8 N×1×48×48 on ``device``, labels, the pack's metadata)."""
    import torch
    import torchvision
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a pack of this kit (format {meta.get('format')!r}); make one with "
                         "`python gpu_kit/kit.py pack fer2013.zip --out fer2013.pack`")
    t = load_file(str(path))
    images, labels = {}, {}
    for split in ("train", "val"):
        data, offsets = t[f"{split}_jpeg"], t[f"{split}_offsets"].tolist()
        blobs = [data[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
        decoded = []
        for i in range(0, len(blobs), 4096):  # batched decoding (nvJPEG on a GPU)
            decoded += torchvision.io.decode_jpeg(blobs[i:i + 4096], mode=torchvision.io.ImageReadMode.GRAY,
                                                  device=device)
        images[split] = torch.stack(decoded).to(device)
        labels[split] = t[f"{split}_labels"].long().to(device)
    return images, labels, meta


def build(arch: str, dropout: float):
    """The network, as FER Studio builds it from model.json (so its weights load there)."""
    if arch == "fer_cnn":
        sys.path.insert(0, str(REPO))
        from fer.models.fer_cnn import FerCNN  # torch alone

        return FerCNN(num_classes=len(CLASSES), in_chans=1, drop_rate=dropout)
    import timm

    return timm.create_model(arch, pretrained=False, num_classes=len(CLASSES), in_chans=1, drop_rate=dropout)


def augment(x, size: int, gen):
    """Per-sample random crop (scale 0.8–1), flip, rotation (±10°), brightness and contrast (±0.2),
    on the GPU, resized to ``size``; normalised as FER Studio feeds the model."""
    import torch
    import torch.nn.functional as F

    n, dev = len(x), x.device

    def u(lo, hi):
        return torch.rand(n, device=dev, generator=gen) * (hi - lo) + lo

    x = x.float() / 255
    side = u(0.8, 1.0).sqrt()  # a crop of 80–100 % of the area
    angle = u(-10, 10) * math.pi / 180
    flip = torch.where(torch.rand(n, device=dev, generator=gen) < 0.5, -1.0, 1.0)
    tx, ty = u(-1, 1) * (1 - side), u(-1, 1) * (1 - side)
    cos, sin = torch.cos(angle) * side, torch.sin(angle) * side
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, (n, 1, size, size), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = ((x - mean) * u(0.8, 1.2).view(-1, 1, 1, 1) + mean) * u(0.8, 1.2).view(-1, 1, 1, 1)
    return (x.clamp(0, 1) - NORMALISATION["mean"][0]) / NORMALISATION["std"][0]


def prepare(x, size: int):
    """Evaluation input: resized to ``size`` (bilinear) and normalised."""
    import torch.nn.functional as F

    x = x.float() / 255
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (x - NORMALISATION["mean"][0]) / NORMALISATION["std"][0]


def probabilities(model, images, size: int, flip: bool = False, batch: int = 1024):
    import torch

    out = []
    with torch.inference_mode(), autocast(images.device):
        for i in range(0, len(images), batch):
            x = prepare(images[i:i + batch], size)
            p = torch.softmax(model(x).float(), 1)
            if flip:
                p = (p + torch.softmax(model(torch.flip(x, dims=[3])).float(), 1)) / 2
            out.append(p.float())
    return torch.cat(out)


def autocast(device):
    import contextlib

    import torch

    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    return contextlib.nullcontext()


def soft_targets(labels, smoothing: float, n: int = len(CLASSES)):
    import torch.nn.functional as F

    return F.one_hot(labels, n).float() * (1 - smoothing) + smoothing / n


class Deadline(Exception):
    """The budget ran out inside a member: it is not kept."""


def train_member(k: int, args, images, labels, deadline: float, epochs: int, log) -> dict:
    """One member: trained ``epochs`` epochs; its best EMA weights by val accuracy and figures."""
    import torch
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    device = images["train"].device
    torch.manual_seed(args.seed + k)
    gen = torch.Generator(device=device).manual_seed(args.seed + k)
    model = build(args.arch, args.dropout).to(device).to(memory_format=torch.channels_last)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    n = len(labels["train"])
    steps_per_epoch = args.max_batches or max(1, n // args.batch)
    total, warm = epochs * steps_per_epoch, args.warmup * steps_per_epoch

    def lr_at(step):  # linear warm-up, then cosine to 1 % of the peak
        if step < warm:
            return (step + 1) / warm
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    beta = torch.distributions.Beta(args.mixup, args.mixup) if args.mixup > 0 else None
    best, history = None, []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(n, device=device, generator=gen)
        for b in range(steps_per_epoch):
            if time.monotonic() > deadline:
                raise Deadline(f"member {k}: the budget ran out in epoch {epoch}")
            idx = order[b * args.batch:(b + 1) * args.batch]
            x = augment(images["train"][idx], args.size, gen).contiguous(memory_format=torch.channels_last)
            y = soft_targets(labels["train"][idx], args.smoothing)
            if beta is not None:  # mixup: each image with another of the batch
                lam = float(beta.sample())
                perm = torch.randperm(len(idx), device=device, generator=gen)
                x, y = lam * x + (1 - lam) * x[perm], lam * y + (1 - lam) * y[perm]
            with autocast(device):
                loss = -(y * torch.log_softmax(model(x).float(), 1)).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            ema.update_parameters(model)
        ema.eval()
        p = probabilities(ema.module, images["val"], args.size)
        acc = float((p.argmax(1) == labels["val"]).float().mean())
        history.append({"epoch": epoch, "val_accuracy": round(acc, 4), "loss": round(float(loss.detach()), 4)})
        if best is None or acc > best["val_accuracy"]:
            best = {"epoch": epoch, "val_accuracy": acc,
                    "state": {name: v.detach().to("cpu", copy=True) for name, v in ema.module.state_dict().items()}}
        log(f"member {k} epoch {epoch}/{epochs}: val accuracy {acc:.4f} (best {best['val_accuracy']:.4f} at "
            f"{best['epoch']}); {(deadline - time.monotonic()) / 60:.1f} min of budget left")
    return {"best": best, "history": history, "epochs": epochs}


def save_member(folder: Path, k: int, args, result: dict, pack_meta: dict, hardware: dict) -> dict:
    """model.json (FER Studio's model folder) and the weights in fp16 safetensors."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {name: (v.half() if v.is_floating_point() else v).contiguous() for name, v in result["best"]["state"].items()}
    save_file(state, str(folder / "model.safetensors.part"), metadata={"format": "pt"})
    (folder / "model.safetensors.part").chmod(0o644)
    (folder / "model.safetensors.part").replace(folder / "model.safetensors")
    splits = json.loads(pack_meta.get("splits", "{}"))
    meta = {
        "architecture": args.arch, "classes": list(CLASSES), "input_size": args.size, "channels": 1,
        "normalisation": {**NORMALISATION, "scale": "uint8 / 255, then (x - mean) / std"},
        "face": {**json.loads(pack_meta.get("face") or json.dumps(FACE)), "size": args.size},
        "dropout": args.dropout,
        "data": {"dataset": "fer2013", "splits": {"train": splits.get("train"), "val": splits.get("val")},
                 "source": json.loads(pack_meta.get("source", "{}"))},
        "metrics": {"best_epoch": result["best"]["epoch"], "epochs_run": len(result["history"]),
                    "val": {"n": splits.get("val"), "accuracy": round(result["best"]["val_accuracy"], 4)},
                    "history": result["history"]},
        "training": {"kit": "gpu_kit/kit.py", "member": k, "recipe": recipe(args, k, result["epochs"])},
        "hardware": hardware, "weights_dtype": "float16", "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (folder / "model.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def recipe(args, k: int | None = None, epochs: int | None = None) -> dict:
    r = {"arch": args.arch, "size": args.size, "epochs": epochs or args.epochs, "batch": args.batch,
         "optimizer": {"name": "adamw", "lr": args.lr, "weight_decay": args.weight_decay},
         "schedule": {"warmup_epochs": args.warmup, "then": "cosine to 1 % of the peak"},
         "label_smoothing": args.smoothing, "mixup_alpha": args.mixup, "ema_decay": args.ema, "dropout": args.dropout,
         "augment": "per-sample crop 80-100 % of the area, flip, rotation +-10 deg, brightness and contrast +-0.2",
         "seed": args.seed + (k or 0), "selection": "best epoch by PublicTest (val) accuracy of the EMA weights"}
    return r


def plan(args, step_seconds: float, left: float) -> int:
    """Epochs the next member gets: ``--epochs``, fewer when the budget left cannot hold them
    (at least ``--min-epochs``), 0 when not even those fit."""
    steps = args.max_batches or max(1, args.train_n // args.batch)
    epoch_s = steps * step_seconds * 1.15 + args.val_seconds  # + evaluation and margin
    fit = int(left // epoch_s)
    if fit >= args.epochs:
        return args.epochs
    return fit if fit >= args.min_epochs else 0


def train(args) -> dict:
    import torch
    import yaml

    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type != "cuda" and not args.dry_run:
        raise SystemExit("no CUDA GPU here: the kit trains on a GPU (--dry-run runs it on the CPU, tiny)")
    deadline = START + args.budget * 60
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logf = open(out / "log.txt", "a")

    def log(line: str) -> None:
        line = f"[{(time.monotonic() - START) / 60:5.1f} min] {line}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    images, labels, pack_meta = load_pack(Path(args.pack), device)
    args.train_n = len(labels["train"])
    hardware = {"device": str(device), "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                "torch": torch.__version__, "python": platform.python_version()}
    log(f"pack: {args.train_n:,} train, {len(labels['val']):,} val images decoded on {device}; "
        f"{(deadline - time.monotonic()) / 60:.1f} min of budget left")
    (out / "recipe.yaml").write_text(yaml.safe_dump({"members": args.members, **recipe(args)}, sort_keys=False))
    step_s = timed_step(args, images, labels)
    args.val_seconds = val_seconds(args, images)
    members, val_probs = [], []
    for k in range(1, args.members + 1):
        epochs = args.epochs if args.dry_run else plan(args, step_s, deadline - time.monotonic())
        if not epochs:
            log(f"member {k}: not started, {args.min_epochs} epochs no longer fit in the budget")
            break
        try:
            result = train_member(k, args, images, labels, deadline, epochs, log)
        except Deadline as e:
            log(f"{e}; not kept")
            break
        folder = out / f"member-{k}"
        meta = save_member(folder, k, args, result, pack_meta, hardware)
        model = build(args.arch, args.dropout).to(device)
        model.load_state_dict({n: v.float() if v.is_floating_point() else v
                               for n, v in result["best"]["state"].items()})
        model.eval()
        val_probs.append((probabilities(model, images["val"], args.size),
                          probabilities(model, images["val"], args.size, flip=True)))
        members.append({"folder": folder.name, "val_accuracy": meta["metrics"]["val"]["accuracy"],
                        "best_epoch": meta["metrics"]["best_epoch"], "epochs": epochs})
        log(f"member {k}: kept, val accuracy {meta['metrics']['val']['accuracy']:.4f} (epoch "
            f"{meta['metrics']['best_epoch']} of {epochs}) → {folder}")
    summary = {"members": members, "pack": json.loads(pack_meta.get("source", "{}")), "hardware": hardware,
               "budget_minutes": args.budget, "minutes": round((time.monotonic() - START) / 60, 2),
               "recipe": recipe(args), "dry_run": bool(args.dry_run)}
    if val_probs:
        y = labels["val"]
        for flip in (False, True):
            p = torch.stack([pair[int(flip)] for pair in val_probs]).mean(0)
            summary[f"ensemble_val_accuracy{'_flip' if flip else ''}"] = round(float((p.argmax(1) == y).float().mean()),
                                                                               4)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "card.md").write_text(card(summary))
    log(f"done: {len(members)} member(s) in {summary['minutes']} min; {out / 'card.md'}")
    return summary


def timed_step(args, images, labels) -> float:
    """Seconds a training step takes here (a throwaway network, a few steps after a warm-up)."""
    import torch

    device = images["train"].device
    model = build(args.arch, args.dropout).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    gen = torch.Generator(device=device).manual_seed(0)
    idx = torch.arange(min(args.batch, len(labels["train"])), device=device)
    times = []
    for i in range(2 if args.dry_run else 8):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        with autocast(device):
            loss = model(augment(images["train"][idx], args.size, gen)).float().logsumexp(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def val_seconds(args, images) -> float:
    import torch

    model = build(args.arch, args.dropout).to(images["val"].device).eval()
    t = time.perf_counter()
    probabilities(model, images["val"], args.size)
    if images["val"].is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t


def card(summary: dict) -> str:
    lines = ["# GPU kit output", "",
             f"{len(summary['members'])} member(s) trained in {summary['minutes']} min (budget "
             f"{summary['budget_minutes']} min) on {summary['hardware'].get('gpu') or summary['hardware']['device']}, "
             f"torch {summary['hardware']['torch']}" + (" — a dry run on the CPU, not a model" if summary["dry_run"] else "")
             + ".", "",
             f"Data: {summary['pack'].get('file')} (sha256 {str(summary['pack'].get('sha256'))[:12]}): FER2013 Training "
             "for training, PublicTest for choosing each member's epoch; PrivateTest was never in the pack.", "",
             "| member | PublicTest accuracy | best epoch | epochs |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {m['folder']} | {m['val_accuracy']:.2%} | {m['best_epoch']} | {m['epochs']} |" for m in summary["members"]]
    if "ensemble_val_accuracy" in summary:
        lines += ["", f"All members averaged: PublicTest {summary['ensemble_val_accuracy']:.2%}; with flip TTA "
                      f"{summary['ensemble_val_accuracy_flip']:.2%}."]
    lines += ["", "Recipe: " + json.dumps(summary["recipe"]), "",
              "Into FER Studio (README, \"The GPU kit\"): `python -m fer model ensemble default --member "
              "kit_out/member-1 --member kit_out/member-2 … [--flip]`, then `python -m fer model calibrate default "
              "--dataset fer2013` and `python bench/model_compare.py --model default@shipped --model default`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python gpu_kit/kit.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    pk = sub.add_parser("pack", help="the train and PublicTest JPEGs of a FER2013 zip as one file (on the CPU)")
    pk.add_argument("zip", type=Path)
    pk.add_argument("--out", type=Path, default=Path("fer2013.pack"))
    tr = sub.add_parser("train", help="train the members on the GPU within a budget")
    tr.add_argument("pack", type=Path)
    tr.add_argument("--out", type=Path, default=Path("kit_out"))
    tr.add_argument("--budget", type=float, default=8.0, help="minutes in all, start-up included (default 8)")
    tr.add_argument("--members", type=int, default=4, help="at most this many (default 4)")
    tr.add_argument("--arch", default="fer_cnn", help="fer_cnn (default) or a timm model name, e.g. resnet18")
    tr.add_argument("--size", type=int, default=48, help="input side in pixels, 48-96 (default 48)")
    tr.add_argument("--epochs", type=int, default=40)
    tr.add_argument("--min-epochs", type=int, default=20, help="a member that cannot have these is not started")
    tr.add_argument("--batch", type=int, default=256)
    tr.add_argument("--lr", type=float, default=3e-3)
    tr.add_argument("--weight-decay", type=float, default=0.05)
    tr.add_argument("--warmup", type=int, default=2, help="warm-up epochs")
    tr.add_argument("--smoothing", type=float, default=0.1)
    tr.add_argument("--mixup", type=float, default=0.2, help="mixup's Beta(alpha, alpha); 0: none")
    tr.add_argument("--ema", type=float, default=0.998)
    tr.add_argument("--dropout", type=float, default=0.3)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--device", default="auto")
    tr.add_argument("--max-batches", type=int, default=0, help=argparse.SUPPRESS)
    tr.add_argument("--dry-run", action="store_true", help="on the CPU, 2 batches an epoch, 1 epoch, 2 members")
    args = ap.parse_args(argv)
    if args.command == "pack":
        print(json.dumps(pack(args.zip, args.out)))
        return 0
    if not 8 <= args.size <= 1024:
        ap.error("--size: a side in pixels")
    if args.dry_run:
        args.max_batches, args.epochs, args.members, args.batch = 2, 1, min(args.members, 2), min(args.batch, 8)
        args.device = "cpu" if args.device == "auto" else args.device
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
