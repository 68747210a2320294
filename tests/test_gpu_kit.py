"""The GPU kit (``gpu_kit/kit.py``) on the CPU, tiny, so that it never rots: a pack from a FER2013
zip holds Training and PublicTest and never PrivateTest; ``train --dry-run`` (2 batches an epoch)
imports nothing beyond torch, torchvision, timm, numpy, safetensors and PyYAML (an import guard
refuses the rest, as the GPU machine would), writes each member as FER Studio's model folder in
fp16 with its figures, a card and a summary; the members load in FER Studio and average into an
ensemble; a budget that runs out keeps no half-trained member."""
import io
import json
import subprocess
import sys
import zipfile
from argparse import Namespace

import numpy as np
import pytest
from PIL import Image

from builders import REPO
from test_install import GUARD, closure

# test_install's guard, except that a look without an import (importlib.util.find_spec, which
# torch._dynamo makes for optional packages such as onnx when torchvision loads) is answered as
# usual: only importing an undeclared package fails
KIT_GUARD = GUARD.replace("""        if path is not None or name in ALLOWED or name in sys.builtin_module_names:
            return None""", """        if path is not None or name in ALLOWED or name in sys.builtin_module_names:
            return None
        if sys._getframe(2).f_code.co_name == "find_spec":  # a look, not an import
            return None""").replace("fer-studio does not declare it", "not on the GPU machine")
assert KIT_GUARD != GUARD

KIT = REPO / "gpu_kit" / "kit.py"
KIT_REQUIREMENTS = ["torch", "torchvision", "timm", "numpy", "safetensors", "pyyaml"]


def fer2013_zip(path, per_class=3):
    """FER2013's image-folder form: train/<class>/Training_*.jpg, test/<class>/{Public,Private}Test_*.jpg."""
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as zf:
        for cls in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"):
            for split, stem in (("train", "Training"), ("test", "PublicTest"), ("test", "PrivateTest")):
                for i in range(per_class):
                    buf = io.BytesIO()
                    Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(buf, "JPEG")
                    zf.writestr(f"fer2013/{split}/{cls}/{stem}_{cls}{i}.jpg", buf.getvalue())
    return path


def kit(*args, cwd, guard_dir=None, timeout=600):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "HF_HUB_OFFLINE": "1"}
    if guard_dir is not None:
        env["PYTHONPATH"] = str(guard_dir)  # its sitecustomize refuses every other package
    return subprocess.run([sys.executable, str(KIT), *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kit")
    guard = tmp / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(KIT_GUARD.format(allowed=sorted(closure(KIT_REQUIREMENTS) | {"fer"})))
    packed = kit("pack", fer2013_zip(tmp / "fer2013.zip"), "--out", tmp / "fer.pack", cwd=tmp)
    trained = kit("train", tmp / "fer.pack", "--out", tmp / "out", "--dry-run", cwd=tmp, guard_dir=guard)
    return {"tmp": tmp, "guard": guard, "packed": packed, "trained": trained}


def test_the_pack_holds_training_and_publictest_only(dry_run):
    from safetensors import safe_open

    assert dry_run["packed"].returncode == 0, dry_run["packed"].stderr
    assert json.loads(dry_run["packed"].stdout)["train"] == 21 and json.loads(dry_run["packed"].stdout)["val"] == 21
    with safe_open(str(dry_run["tmp"] / "fer.pack"), framework="np") as f:
        meta, labels = f.metadata(), f.get_tensor("val_labels")
    assert meta["format"] == "fer-studio-gpu-pack/1" and json.loads(meta["splits"]) == {"train": 21, "val": 21}
    assert sorted(labels.tolist()) == sorted(list(range(7)) * 3)  # each class, PrivateTest's left out


def test_a_dry_run_writes_members_fer_studio_loads(dry_run, tmp_path):
    from safetensors import safe_open

    from fer import models
    from fer.models import ensemble

    p = dry_run["trained"]
    assert p.returncode == 0, p.stdout + p.stderr
    out = dry_run["tmp"] / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert [m["folder"] for m in summary["members"]] == ["member-1", "member-2"] and summary["dry_run"]
    assert "PrivateTest was never in the pack" in (out / "card.md").read_text()
    for k in (1, 2):
        folder = out / f"member-{k}"
        with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
            assert f.get_tensor("fc.weight").dtype.is_floating_point and str(f.get_tensor("fc.weight").dtype) == \
                "torch.float16"
        net, meta = models.load(folder)
        assert meta["metrics"]["best_epoch"] == 1 and meta["training"]["recipe"]["mixup_alpha"] == 0.2
        probs = models.predict(net, np.zeros((2, 48, 48, 1), np.uint8), *models.norm_tensors(meta), "cpu")
        assert probs.shape == (2, 7) and np.allclose(probs.sum(1), 1, atol=1e-5)
    meta = ensemble.write_folder(tmp_path / "ens", [str(out / "member-1"), str(out / "member-2")], flip=True)
    assert len(meta["members"]) == 2 and models.load(tmp_path / "ens")[1]["tta"] == {"flip": True}


def test_the_guard_refuses_what_the_gpu_machine_lacks(dry_run):
    p = subprocess.run([sys.executable, "-c", "import torch, timm, yaml; import pandas"], capture_output=True,
                       text=True, env={"PYTHONPATH": str(dry_run["guard"]), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert p.returncode == 1 and "No module named 'pandas' (not on the GPU machine)" in p.stderr


def test_a_budget_that_runs_out_keeps_no_half_trained_member(dry_run):
    p = kit("train", dry_run["tmp"] / "fer.pack", "--out", dry_run["tmp"] / "cut", "--dry-run", "--budget", "0.0001",
            cwd=dry_run["tmp"], guard_dir=dry_run["guard"])
    assert p.returncode == 0, p.stderr
    assert "member 1: the budget ran out in epoch 1; not kept" in p.stdout
    assert json.loads((dry_run["tmp"] / "cut" / "summary.json").read_text())["members"] == []
    assert not (dry_run["tmp"] / "cut" / "member-1").exists()


def test_the_plan_gives_a_member_the_epochs_that_fit():
    sys.path.insert(0, str(KIT.parent))
    import kit as k

    args = Namespace(epochs=40, min_epochs=20, max_batches=0, train_n=25600, batch=256, val_seconds=0.5)
    # 100 steps of 0.1 s: an epoch is 10 s × 1.15 + 0.5 s of evaluation = 12 s
    assert k.plan(args, 0.1, left=600) == 40
    assert k.plan(args, 0.1, left=300) == 25  # fewer, still at least 20
    assert k.plan(args, 0.1, left=200) == 0  # not started
