"""The training library and CLI on tiny models and a generated dataset."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml

from fer import jobs, models
from fer.store import Run, promote, resolve_model
from fer.data import import_dataset
from fer import config as C
from fer.data import arrays
from fer.training import data, trainer, transfer

import builders as b
from builders import REPO

TINY = ["model.backbone=fer_cnn", "batch_size=16", "schedule.warmup_epochs=0", "early_stopping.patience=0"]


def tiny_dataset(tmp_path, name="tiny", per_class=12, seed=0):
    """A dataset of random images, the same ones in every test (figures of a training on it do not
    depend on which tests ran before)."""
    src = b.imagefolder(tmp_path / "src", classes=b.FER_CLASSES, per_class=per_class, seed=seed)
    import_dataset([str(src)], name, workers=1)
    return name


def start(cfg_sets, extra=()):
    cfg = C.resolve({}, [*TINY, *cfg_sets, *extra])
    trainer.prepare(cfg)
    return Run.create(cfg).folder


def cli(*args, store, check=True, timeout=300):
    env = {**os.environ, "FER_ARTIFACTS": str(store)}
    p = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_run_folder_has_everything(store, tmp_path):
    tiny_dataset(tmp_path)
    f = start(["dataset=tiny", "epochs=2", "eval_splits=[val, test]"])
    result = jobs.train(f, log=lambda m: None)
    assert result["state"] == "finished" and result["epoch"] == 2
    assert json.loads((f / "run.json").read_text())["id"] == f.name
    assert jobs.status(f)["state"] == "finished"
    ep = Run(f).epochs()
    assert list(ep["epoch"]) == [1, 2]
    for key in ("train_loss", "val_loss", "val_accuracy", "val_macro_f1", "lr", "epoch_seconds", "images_per_s"):
        assert key in ep
    assert any(m["kind"] == "progress" for m in Run(f).metrics())
    meta = models.read_meta(f)
    for key in ("architecture", "classes", "input_size", "channels", "normalisation", "face", "data", "metrics",
                "versions", "git_commit", "hardware"):
        assert key in meta, key
    assert meta["data"]["manifest_hash"] == arrays.manifest_hash("tiny")
    model, _ = models.load(f)
    assert sum(p.numel() for p in model.parameters()) > 1e6
    summary = json.loads((f / "eval" / "tiny" / "test" / "summary.json").read_text())
    for key in ("n", "accuracy", "macro_precision", "macro_recall", "macro_f1", "top3_accuracy", "loss", "per_class",
                "confusion_matrix"):
        assert key in summary
    import pandas as pd

    pred = pd.read_parquet(f / "eval" / "tiny" / "test" / "predictions.parquet")
    assert len(pred) == summary["n"] and {"path", "split", "source", "label", "prediction", "p_happy"} <= set(pred)
    assert np.allclose(pred.filter(like="p_").sum(axis=1), 1, atol=1e-4)
    assert yaml.safe_load((f / "config.yaml").read_text())["dataset"] == "tiny"


@pytest.mark.parametrize("backbone,channels", [("fer_cnn", 1), ("resnet18", 3), ("mobilenetv3_small_050", 3)])
def test_transfer_modes_freeze_what_they_say(backbone, channels):
    m = models.build({"backbone": backbone, "channels": channels, "dropout": 0.1})
    head = set(transfer.head_parameters(m))
    assert head and all("fc" in n or "classifier" in n or "head" in n or "conv_head" in n or "bn2" in n for n in head)
    transfer.set_transfer(m, "frozen")
    assert {n for n, p in m.named_parameters() if p.requires_grad} == head
    transfer.set_transfer(m, "partial", 1)
    partial1 = {n for n, p in m.named_parameters() if p.requires_grad}
    transfer.set_transfer(m, "partial", 2)
    partial2 = {n for n, p in m.named_parameters() if p.requires_grad}
    assert head < partial1 < partial2
    if backbone == "resnet18":
        assert {n.split(".")[0] for n in partial1} == {"layer4", "fc"}
        assert {n.split(".")[0] for n in partial2} == {"layer3", "layer4", "fc"}
    transfer.set_transfer(m, "full")
    assert all(p.requires_grad for p in m.parameters())
    with pytest.raises(models.ModelError, match="stages"):
        transfer.set_transfer(m, "partial", 99)


def _starting_weights(monkeypatch) -> dict:
    """The weights the trainer itself starts from (recorded as it builds its model)."""
    seen = {}
    build = trainer._build_model

    def recording(recipe, device):
        model, trainable, head = build(recipe, device)
        seen.update({k: v.detach().clone() for k, v in model.state_dict().items()})
        return model, trainable, head

    monkeypatch.setattr(trainer, "_build_model", recording)
    return seen


def test_warmup_trains_the_head_alone_then_unfreezes(store, tmp_path, monkeypatch):
    """Epoch 1 (head only) leaves the trainer's own starting backbone and its norm statistics as
    they were and moves the head; epoch 2 moves the backbone too."""
    tiny_dataset(tmp_path)
    f = start(["dataset=tiny", "epochs=2", "model.warmup_head_epochs=1", "eval_splits=[]",
               "checkpoint.every_seconds=0"])
    init = _starting_weights(monkeypatch)
    jobs.train(f, log=lambda m: None)
    assert list(Run(f).epochs()["head_only"]) == [True, False]
    first = torch.load(f / "previous.pt", weights_only=True)  # the checkpoint at the end of epoch 1
    last = torch.load(f / "last.pt", weights_only=True)
    assert (first["state"]["epoch"], last["state"]["epoch"]) == (1, 2)
    for k in ("stages.0.0.weight", "stages.2.1.weight", "stages.0.1.running_mean"):  # backbone and norm stats
        assert torch.equal(first["model"][k], init[k]), k
        assert not torch.equal(last["model"][k], init[k]), k
    assert not torch.equal(first["model"]["fc.weight"], init["fc.weight"])


def test_ema_weights_are_what_validation_sees_and_what_is_saved(store, tmp_path):
    from safetensors.torch import load_file

    from fer.evaluation import metrics

    tiny_dataset(tmp_path)
    f = start(["dataset=tiny", "epochs=1", "ema.enabled=true", "ema.decay=0.9", "eval_splits=[]"])
    jobs.train(f, log=lambda m: None)  # one epoch: it is the best, so its weights are the ones saved
    ck = torch.load(f / "last.pt", weights_only=True)
    assert not torch.equal(ck["ema"]["fc.weight"], ck["model"]["fc.weight"])
    best = load_file(str(f / "model.safetensors"))
    assert all(torch.equal(best[k], ck["ema"][k]) for k in best)  # the EMA is saved, not the raw weights
    val = arrays.load("tiny", 48, 1)["val"]
    mean, std = models.norm_tensors(models.read_meta(f), torch.device("cpu"))
    val_loss = {}
    for which in ("ema", "model"):
        m = models.build({"backbone": "fer_cnn", "channels": 1, "dropout": 0.3}, for_training=False)
        m.load_state_dict(ck[which])
        val_loss[which] = metrics.summary(val.labels, models.predict(m.eval(), val.images, mean, std, "cpu"))["loss"]
    recorded = Run(f).epochs()["val_loss"].iloc[0]  # validation saw the EMA
    assert recorded == pytest.approx(val_loss["ema"], rel=1e-5)
    assert recorded != pytest.approx(val_loss["model"], rel=1e-3)


def test_early_stopping_stops_after_patience_epochs_without_a_better_val_loss(store, tmp_path, monkeypatch):
    """Validation figures scripted (the rule, not the model, is under test): losses 1.0, 1.1, 0.9,
    1.2, 1.3 with patience 2 stop after epoch 5 of 8; the best epoch is by the monitored F1."""
    tiny_dataset(tmp_path)
    f = start(["dataset=tiny", "epochs=8", "early_stopping.patience=2", "eval_splits=[]"])
    script = iter([(1.0, 0.2), (1.1, 0.5), (0.9, 0.3), (1.2, 0.1), (1.3, 0.1), (0.5, 0.9), (0.5, 0.9), (0.5, 0.9)])

    def scripted(t):
        loss, f1 = next(script)
        return {"loss": loss, "accuracy": f1, "macro_f1": f1, "n": len(t.splits["val"])}

    monkeypatch.setattr(trainer, "_validate", scripted)
    log = []
    result = jobs.train(f, log=log.append)
    assert result["state"] == "finished" and result["epoch"] == 5 and result["best_epoch"] == 2
    assert list(Run(f).epochs()["epoch"]) == [1, 2, 3, 4, 5]
    assert "early stop: val loss has not improved for 2 epochs" in log
    assert models.read_meta(f)["metrics"]["best_epoch"] == 2


def test_the_learning_rate_warms_up_then_follows_a_cosine_at_every_step(store, tmp_path, monkeypatch):
    from fer.training import engine

    tiny_dataset(tmp_path)
    per_epoch = engine.batches_per_epoch(len(arrays.load("tiny", 48, 1)["train"]), 16)
    f = start(["dataset=tiny", "epochs=4", "schedule.warmup_epochs=1", "optimizer.lr=0.01", "optimizer.head_lr=0.1",
               "schedule.min_lr=0.0001", "eval_splits=[]"])
    seen, optimise = [], engine._optimise

    def recording(s, x, target, step):
        out = optimise(s, x, target, step)
        seen.append({g["name"]: g["lr"] for g in s.optimizer.param_groups})
        return out

    monkeypatch.setattr(engine, "_optimise", recording)
    jobs.train(f, log=lambda m: None)
    total = 4 * per_epoch
    backbone, head = np.array([r["backbone"] for r in seen]), np.array([r["head"] for r in seen])
    expected = [0.01 * (k + 1) / per_epoch for k in range(per_epoch)] + [
        0.0001 + (0.01 - 0.0001) * 0.5 * (1 + np.cos(np.pi * (k - per_epoch) / (total - per_epoch)))
        for k in range(per_epoch, total)]
    assert len(seen) == total and np.allclose(backbone, expected)  # warm-up for an epoch, then a cosine, per step
    assert np.allclose(head, 10 * backbone)  # the head at its own rate, on the same schedule
    assert list(Run(f).epochs()["lr"]) == pytest.approx([r[next(iter(r))] for r in seen[per_epoch - 1::per_epoch]])


def test_balanced_sampler_draws_classes_equally():
    labels = np.array([0] * 900 + [1] * 90 + [3] * 10)
    g = torch.Generator().manual_seed(0)
    drawn = labels[data.epoch_indices(labels, True, g).numpy()]
    share = np.bincount(drawn, minlength=7)[[0, 1, 3]] / len(drawn)
    assert np.allclose(share, 1 / 3, atol=0.04)
    plain = labels[data.epoch_indices(labels, False, g).numpy()]
    assert sorted(plain) == sorted(labels)
    assert np.allclose(data.class_weights(labels)[[0, 1, 3]], [1000 / (3 * 900), 1000 / (3 * 90), 1000 / (3 * 10)])


def test_our_mixup_and_loss_follow_the_config(store, tmp_path):
    """The config reaches timm's Mixup (alpha, prob, label smoothing, 7 classes), and our loss
    weighs soft targets by class as it does hard ones."""
    import torch.nn.functional as F

    from fer.labels import NUM_CLASSES
    from fer.config import Recipe

    sets = ["dataset=any", "mixup.alpha=0.4", "mixup.prob=1.0", "loss.label_smoothing=0.1", "loss.class_weights=true"]
    recipe = Recipe.from_config(C.resolve({}, sets))
    assert trainer._mixup(Recipe.from_config(C.resolve({}, ["dataset=any"]))) is None  # alpha 0: no mixup
    x, y = torch.rand(6, 1, 48, 48), torch.arange(6)
    mixed, target = trainer._mixup(recipe)(x.clone(), y)  # prob 1: this batch is mixed
    off, on = 0.1 / NUM_CLASSES, 1 - 0.1 + 0.1 / NUM_CLASSES  # label smoothing 0.1 over 7 classes
    lam = float((target[0, 0] - off) / (on - off))  # what the targets say of the mix
    assert 0 < lam < 1 and torch.allclose(mixed, lam * x + (1 - lam) * x.flip(0), atol=1e-6)
    assert torch.allclose(target[0, 5], torch.tensor(lam * off + (1 - lam) * on))
    assert torch.allclose(target.sum(1), torch.ones(6))
    labels = np.array([0] * 30 + [1] * 6 + [2] * 4)
    w = torch.tensor(data.class_weights(labels), dtype=torch.float32)
    loss_fn = trainer._loss(recipe, labels, torch.device("cpu"))
    logits = torch.randn(6, NUM_CLASSES)
    assert torch.allclose(loss_fn(logits, target), -(target * F.log_softmax(logits, 1) * w).sum(1).mean())
    assert torch.allclose(loss_fn(logits, y), F.cross_entropy(logits, y, weight=w, label_smoothing=0.1))
    tiny_dataset(tmp_path)
    f = start(["dataset=tiny", "epochs=1", "mixup.alpha=0.4", "mixup.prob=1.0", "loss.class_weights=true",
               "sampler.balanced=true", "eval_splits=[]"])
    assert jobs.train(f, log=lambda m: None)["state"] == "finished"
    assert np.isfinite(Run(f).epochs()["train_loss"]).all()


def test_randaugment_draws_an_operation_per_sample():
    """RandAugment alone (no crop, flip or jitter): one image sixteen times in one batch comes out
    in several forms; drawn once per batch, it would come out in one."""
    from fer.training.augment import BatchAugment

    x = torch.rand(1, 1, 48, 48).repeat(16, 1, 1, 1)
    only_ra = BatchAugment(48, crop_scale=(1.0, 1.0), hflip=False, randaugment_n=1, randaugment_m=9, brightness=0,
                           contrast=0)
    out = only_ra(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    assert len({tuple(o.flatten().round(decimals=4).tolist()) for o in out}) >= 6


def test_crop_flip_and_jitter_draw_per_sample():
    from fer.training.augment import BatchAugment

    x = torch.rand(1, 1, 48, 48).repeat(16, 1, 1, 1)
    g = torch.Generator().manual_seed(0)
    for kw in ({"crop_scale": (0.5, 1.0), "hflip": False, "brightness": 0, "contrast": 0},
               {"crop_scale": (1.0, 1.0), "hflip": False, "brightness": 0.4, "contrast": 0},
               {"crop_scale": (1.0, 1.0), "hflip": True, "brightness": 0, "contrast": 0}):
        out = BatchAugment(48, randaugment_n=0, **kw)(x, g)
        forms = {tuple(o.flatten().round(decimals=4).tolist()) for o in out}
        assert len(forms) == (2 if kw["hflip"] else 16), kw  # a flip has two outcomes; the others one each


@pytest.mark.parametrize("sets,match", [
    (["model.backbone=resnet_9000"], "unknown backbone"),
    (["optimizer.lr=-0.1"], "optimizer.lr"),
    (["dataset=nothere"], "no dataset named"),
    (["epochs=0"], "epochs"),
    (["model.transfer=half"], "model.transfer"),
    (["augment.crop_scale=[0.9, 0.5]"], "crop_scale"),
])
def test_bad_configs_fail_before_training(store, tmp_path, sets, match):
    tiny_dataset(tmp_path)
    with pytest.raises(C.ConfigError, match=match):
        trainer.prepare(C.load(REPO / "training/configs/smoke.yaml", ["dataset=tiny", *sets]))


def test_bad_config_through_the_cli_is_one_line_and_writes_nothing(store, tmp_path):
    tiny_dataset(tmp_path)
    p = cli("training.train", "--config", "training/configs/smoke.yaml", "--set", "dataset=tiny", "--set",
            "optimizer.lr=-1", store=store, check=False)
    assert p.returncode == 2 and p.stderr.strip() == "error: optimizer.lr=-1: use a positive number"
    assert not (store / "runs").exists()


def test_train_verb_prints_the_run_takes_a_preset_name_and_refuses_bad_options(store, tmp_path):
    tiny_dataset(tmp_path)
    p = cli("fer", "train", "--config", "smoke", "--set", "dataset=tiny", "--set", "epochs=1", store=store)
    run_id, folder = p.stdout.split()
    assert folder == str(store / "runs" / run_id) and Run.open(run_id).state == "finished"
    assert f"run {run_id}: finished after 1 epochs" in p.stderr
    for args, named in ((["--config", "smoke", "--bogus"], "--bogus"), (["--config", "nosuch"], "nosuch"),
                        (["--config", "smoke", "--set", "dataset=tiny", "--set", "epochs=0"], "epochs"),
                        (["--resume", "../x"], "invalid name")):
        p = cli("fer", "train", *args, store=store, check=False)
        assert p.returncode == 2 and named in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)
    assert len(Run.list()) == 1  # nothing else was made


def test_unknown_key_and_class_missing_from_train(store, tmp_path):
    with pytest.raises(C.ConfigError, match="unknown config key"):
        C.resolve({}, ["model.backbon=resnet18"])
    src = b.imagefolder(tmp_path / "s", classes=("happy", "sad"), per_class=6, splits=("train",))
    b.imagefolder(tmp_path / "s", classes=("angry",), per_class=3, splits=("val", "test"))
    import_dataset([str(src)], "holes", workers=1)
    p = cli("training.train", "--config", "training/configs/smoke.yaml", "--set", "dataset=holes", store=store,
            check=False)
    assert p.returncode == 2 and "angry missing from train" in p.stderr


def test_torn_metrics_line_is_tolerated(tmp_path):
    Run(tmp_path).append_metrics({"kind": "epoch", "epoch": 1, "val_loss": 1.0})
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"kind": "epoch", "epo')
    assert [m["epoch"] for m in Run(tmp_path).metrics()] == [1]


def _wait(cond, timeout=120):
    t = time.time()
    while not cond():
        assert time.time() - t < timeout, "timed out"
        time.sleep(0.2)


def test_sigterm_cancels_cleanly_and_resume_continues(store, tmp_path):
    tiny_dataset(tmp_path, per_class=20)
    env = {**os.environ, "FER_ARTIFACTS": str(store)}
    proc = subprocess.Popen([sys.executable, "-m", "training.train", "--config", "training/configs/smoke.yaml",
                             "--set", "dataset=tiny", "--set", "epochs=60", "--set", "batch_size=8"], cwd=REPO, env=env,
                            stderr=subprocess.PIPE, text=True)
    _wait(lambda: (store / "runs").exists() and any((store / "runs").iterdir()))
    f = next((store / "runs").iterdir())
    _wait(lambda: len(Run(f).epochs()) >= 1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert jobs.status(f)["state"] == "cancelled"
    done = len(Run(f).epochs())
    models.load(f)  # the weights load
    assert torch.load(f / "last.pt", weights_only=True)["state"]["epoch"] == done
    # resume to a shorter end: change the run's epochs in its config so the test stays short
    cfg = Run(f).config()
    cfg["epochs"] = done + 1
    (f / "config.yaml").write_text(yaml.safe_dump(cfg))
    p = cli("training.train", "--resume", f.name, store=store)
    assert list(Run(f).epochs()["epoch"]) == list(range(1, done + 2))
    assert jobs.status(f)["state"] == "finished" and "resuming at epoch" in p.stderr


def test_sigkill_shows_as_failed(store, tmp_path):
    tiny_dataset(tmp_path, per_class=40)
    cfg = C.resolve({}, [*TINY, "dataset=tiny", "epochs=60", "batch_size=8"])
    f = Run.create(cfg).folder
    jobs.submit("train", {"run": f.name})
    _wait(lambda: len(Run(f).metrics()) >= 1)
    assert jobs.status(f)["state"] == "running"
    os.killpg(jobs.status(f)["pid"], signal.SIGKILL)
    _wait(lambda: jobs.status(f)["state"] == "failed", timeout=20)
    assert "stopped without a word" in jobs.status(f)["error"]


def test_queue_starts_the_next_job_when_a_slot_frees(store, tmp_path):
    tiny_dataset(tmp_path)
    folders = []
    for k in range(2):
        cfg = C.resolve({}, [*TINY, "dataset=tiny", "epochs=1", "eval_splits=[]", f"name=q{k}"])
        f = Run.create(cfg).folder
        folders.append(jobs.submit("train", {"run": f.name}))
    assert [jobs.status(f)["state"] for f in folders] == ["running", "queued"]  # max_jobs = 1
    third = Run.create(C.resolve({}, [*TINY, "dataset=tiny"])).folder
    jobs.submit("train", {"run": third.name})
    assert jobs.cancel(third) == "cancelled"
    _wait(lambda: all(jobs.status(f)["state"] == "finished" for f in folders), timeout=180)
    assert jobs.status(third)["state"] == "cancelled"
    assert (folders[1] / "train.log").read_text().count("epoch 1/1") == 1


def test_evaluate_cli_and_promote(store, tmp_path):
    tiny_dataset(tmp_path)
    f = start(["dataset=tiny", "epochs=1", "eval_splits=[]"])
    jobs.train(f, log=lambda m: None)
    p = cli("training.evaluate", "--run", f.name, "--dataset", "tiny", "--split", "val", store=store)
    out = json.loads(p.stdout)
    assert out["n"] > 0 and p.stderr.strip().endswith(str(f / "eval" / "tiny" / "val"))
    from sklearn.metrics import accuracy_score
    import pandas as pd

    pred = pd.read_parquet(f / "eval" / "tiny" / "val" / "predictions.parquet")
    assert out["accuracy"] == pytest.approx(accuracy_score(pred["label"], pred["prediction"]))
    target = promote(f.name, "best").folder
    assert resolve_model("best").folder == target and (target / "model.safetensors").exists()
    p = cli("training.evaluate", "--run", "best", "--dataset", "tiny", "--split", "all", store=store)
    assert (target / "eval" / "tiny" / "all" / "summary.json").exists()
    p = cli("training.evaluate", "--run", "nope", "--dataset", "tiny", store=store, check=False)
    assert p.returncode == 2 and "no model 'nope'" in p.stderr


def test_smoke_preset_through_the_cli_on_the_mini_dataset(store, mini_zip):
    import_dataset([str(mini_zip)], "mini")
    p = cli("training.train", "--config", "training/configs/smoke.yaml", "--set", "dataset=mini", store=store)
    f = next((store / "runs").iterdir())
    assert f"run {f.name}: finished after 2 epochs" in p.stderr
    assert (f / "eval" / "mini" / "test" / "summary.json").exists() and (f / "train.log").exists()


def test_ddp_two_processes_on_cpu_with_ranks_of_uneven_batches(store, tmp_path):
    """77 training images, batches of 13, two ranks: 39 and 38 images, 3 and 2 batches unpadded
    (the ranks then wait for each other for ever, or crash)."""
    src = b.imagefolder(tmp_path / "src", classes=b.FER_CLASSES, per_class=11, splits=("train",))
    b.imagefolder(src, classes=b.FER_CLASSES, per_class=2, splits=("val", "test"))
    import_dataset([str(src)], "uneven", workers=1)
    assert len(arrays.load("uneven", 48, 1)["train"]) == 77
    env = {**os.environ, "FER_ARTIFACTS": str(store), "FER_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "fer", "train", "--config", "smoke", "--set", "dataset=uneven", "--set", "batch_size=13",
                        "--set", "eval_splits=[val]"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    made = list((store / "runs").iterdir())
    assert len(made) == 1 and jobs.status(made[0])["state"] == "finished"
    ep = Run(made[0]).epochs()
    assert list(ep["epoch"]) == [1, 2]  # one line per epoch: rank 0 writes
    assert list(ep["train_images"]) == [78, 78]  # both ranks' batches counted (39 each, one repeated)
    model, meta = models.load(made[0])  # the saved model loads
    summary = json.loads((made[0] / "eval" / "uneven" / "val" / "summary.json").read_text())
    best = ep[ep["epoch"] == meta["metrics"]["best_epoch"]].iloc[0]
    assert summary["n"] == 14 and best["val_accuracy"] == pytest.approx(summary["accuracy"])  # both ranks' shares
    assert best["val_loss"] == pytest.approx(summary["loss"], rel=1e-4)  # (batched differently: float error)


def test_every_preset_resolves_and_every_key_is_documented():
    found = C.presets()
    assert {"smoke", "fer2013_cpu", "convnext_tiny_full", "resnet50_partial", "vggface2_partial"} <= set(found)
    for name, preset in found.items():
        C.validate(C.resolve(preset, ["dataset=any"]))
    seed = found["resnet50_partial"]
    assert seed["model"]["partial_stages"] == 2 and seed["optimizer"]["head_lr"] == 9.37e-4
    assert found["smoke"]["early_stopping"]["patience"] == 0
    readme = (REPO / "README.md").read_text()
    missing = [k for k in C.SCHEMA if f"`{k}`" not in readme]
    assert not missing, f"README does not document {missing}"


NO_NETWORK = """
import json, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(str(args[:2]))
    raise OSError("the network is off here")
socket.getaddrinfo = refuse
socket.socket.connect = lambda sock, address: refuse(address)
from fer import models
try:
    models.build({"backbone": sys.argv[1], "pretrained": True, "channels": 3})
    said = "built"
except models.ModelError as e:
    said = str(e)
print(json.dumps({"attempts": attempts, "said": said}))
"""


@pytest.mark.parametrize("offline", [True, False])
@pytest.mark.parametrize("backbone", ["convnext_tiny", "facenet_vggface2"])
def test_pretrained_offline_fails_at_once_with_a_way_out(backbone, offline, tmp_path):
    """No network, in a process of its own (the hub reads HF_HUB_OFFLINE when imported): at most
    one quick probe of the network (none when HF_HUB_OFFLINE says so), never the hub's retries
    (45 s of them), and a way out."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update({"TORCH_HOME": str(tmp_path), "HF_HOME": str(tmp_path), **({"HF_HUB_OFFLINE": "1"} if offline else {})})
    p = subprocess.run([sys.executable, "-c", NO_NETWORK, backbone], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=300)
    out = json.loads(p.stdout)
    assert "pretrained: false" in out["said"] and len(out["attempts"]) == (0 if offline else 1), out


@pytest.mark.parametrize("backbone", ["convnext_tiny", "efficientnet_b0", "vgg16_bn", "vit_tiny_patch16_224",
                                      "mobilenetv3_large_100", "resnet50", "facenet_vggface2"])
def test_backbones_build_by_name_and_roundtrip_through_a_model_folder(backbone, tmp_path):
    size = 160 if backbone == "facenet_vggface2" else 224 if "vit" in backbone else 64
    m = models.build({"backbone": backbone, "channels": 3, "dropout": 0.1}).eval()
    meta = {"architecture": backbone, "classes": list(__import__("fer.labels").labels.CLASSES), "input_size": size,
            "channels": 3, "normalisation": {"mean": [0.5] * 3, "std": [0.25] * 3}}
    models.save(tmp_path, m, meta)
    again, _ = models.load(tmp_path)
    x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        assert torch.allclose(m(x), again(x), atol=1e-5)
