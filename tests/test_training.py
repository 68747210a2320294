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
from fer.training import config as C
from fer.data import arrays
from fer.training import data, trainer, transfer

import builders as b
from builders import REPO

TINY = ["model.backbone=fer_cnn", "batch_size=16", "schedule.warmup_epochs=0", "early_stopping.patience=0"]


def tiny_dataset(tmp_path, name="tiny", per_class=12):
    src = b.imagefolder(tmp_path / "src", classes=b.FER_CLASSES, per_class=per_class)
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
    result = trainer.run(f, log=lambda m: None)
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


def test_warmup_trains_the_head_alone_then_unfreezes(store, tmp_path):
    tiny_dataset(tmp_path)
    f = start(["dataset=tiny", "epochs=2", "model.warmup_head_epochs=1", "eval_splits=[]"])
    torch.manual_seed(0)
    init = models.build({"backbone": "fer_cnn", "channels": 1, "dropout": 0.3}).state_dict()
    trainer.run(f, log=lambda m: None)
    ep = Run(f).epochs()
    assert list(ep["head_only"]) == [True, False]
    # after two epochs the backbone moved (it trained in epoch 2) ...
    after = torch.load(f / "last.pt", weights_only=True)["model"]
    assert not torch.equal(after["stages.0.0.weight"], init["stages.0.0.weight"])


def test_warmup_epoch_leaves_the_backbone_untouched(store, tmp_path):
    tiny_dataset(tmp_path)
    f = start(["dataset=tiny", "epochs=1", "model.warmup_head_epochs=1", "eval_splits=[]"])
    torch.manual_seed(0)
    init = models.build({"backbone": "fer_cnn", "channels": 1, "dropout": 0.3}).state_dict()
    trainer.run(f, log=lambda m: None)
    after = torch.load(f / "last.pt", weights_only=True)["model"]
    assert torch.equal(after["stages.2.1.weight"], init["stages.2.1.weight"])
    assert torch.equal(after["stages.0.1.running_mean"], init["stages.0.1.running_mean"])  # norm stats frozen
    assert not torch.equal(after["fc.weight"], init["fc.weight"])


def test_ema_weights_differ_from_raw_and_validate(store, tmp_path):
    tiny_dataset(tmp_path)
    f = start(["dataset=tiny", "epochs=2", "ema.enabled=true", "ema.decay=0.9", "eval_splits=[]"])
    trainer.run(f, log=lambda m: None)
    ck = torch.load(f / "last.pt", weights_only=True)
    assert not torch.equal(ck["ema"]["fc.weight"], ck["model"]["fc.weight"])
    from safetensors.torch import load_file

    best = load_file(str(f / "model.safetensors"))
    assert torch.equal(best["fc.weight"], ck["ema"]["fc.weight"]) or Run(f).epochs()["val_macro_f1"].idxmax() == 0


def test_balanced_sampler_draws_classes_equally():
    labels = np.array([0] * 900 + [1] * 90 + [3] * 10)
    g = torch.Generator().manual_seed(0)
    drawn = labels[data.epoch_indices(labels, True, g).numpy()]
    share = np.bincount(drawn, minlength=7)[[0, 1, 3]] / len(drawn)
    assert np.allclose(share, 1 / 3, atol=0.04)
    plain = labels[data.epoch_indices(labels, False, g).numpy()]
    assert sorted(plain) == sorted(labels)
    assert np.allclose(data.class_weights(labels)[[0, 1, 3]], [1000 / (3 * 900), 1000 / (3 * 90), 1000 / (3 * 10)])


def test_mixup_gives_soft_targets_and_trains(store, tmp_path):
    from timm.data import Mixup

    mix = Mixup(mixup_alpha=0.4, prob=1.0, mode="batch", label_smoothing=0.0, num_classes=7)
    x, y = torch.rand(6, 1, 48, 48), torch.arange(6)  # distinct classes: every row is mixed
    _, target = mix(x, y)
    assert target.shape == (6, 7) and (target.max(1).values < 1).all() and torch.allclose(target.sum(1), torch.ones(6))
    tiny_dataset(tmp_path)
    f = start(["dataset=tiny", "epochs=1", "mixup.alpha=0.4", "mixup.prob=1.0", "loss.class_weights=true",
               "sampler.balanced=true", "eval_splits=[]"])
    assert trainer.run(f, log=lambda m: None)["state"] == "finished"
    assert np.isfinite(Run(f).epochs()["train_loss"]).all()


def test_augmentation_draws_per_sample():
    from fer.training.augment import BatchAugment

    aug = BatchAugment(48, crop_scale=(0.5, 1.0), randaugment_n=2, randaugment_m=9)
    x = torch.rand(1, 1, 48, 48).repeat(16, 1, 1, 1)
    out = aug(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    distinct = {tuple(o.flatten()[:50].round(decimals=3).tolist()) for o in out}
    assert len(distinct) > 12  # the same image, augmented differently in one batch


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
    trainer.run(f, log=lambda m: None)
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


def test_ddp_two_processes_on_cpu(store, tmp_path):
    tiny_dataset(tmp_path)
    env = {**os.environ, "FER_ARTIFACTS": str(store), "FER_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "training.train", "--config", "training/configs/smoke.yaml", "--set", "dataset=tiny",
                        "--set", "batch_size=8"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    made = list((store / "runs").iterdir())
    assert len(made) == 1 and jobs.status(made[0])["state"] == "finished"
    assert list(Run(made[0]).epochs()["epoch"]) == [1, 2]  # one line per epoch: rank 0 writes


def test_every_preset_resolves_and_every_key_is_documented():
    from fer.training.launch import presets

    found = presets()
    assert {"smoke", "fer2013_cpu", "convnext_tiny_full", "resnet50_partial", "vggface2_partial"} <= set(found)
    for name, preset in found.items():
        C.validate(C.resolve(preset, ["dataset=any"]))
    seed = found["resnet50_partial"]
    assert seed["model"]["partial_stages"] == 2 and seed["optimizer"]["head_lr"] == 9.37e-4
    assert found["smoke"]["early_stopping"]["patience"] == 0
    readme = (REPO / "README.md").read_text()
    missing = [k for k in C.SCHEMA if f"`{k}`" not in readme]
    assert not missing, f"README does not document {missing}"


@pytest.mark.parametrize("backbone", ["convnext_tiny", "facenet_vggface2"])
def test_pretrained_offline_fails_at_once_with_a_way_out(monkeypatch, backbone, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached facenet weights
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    t = time.time()
    with pytest.raises(models.ModelError, match="pretrained: false"):
        models.build({"backbone": backbone, "pretrained": True, "channels": 3})
    assert time.time() - t < 15  # no 45 s of retries


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
