"""``fer`` installs as a package: a non-editable install into a fresh virtual environment predicts
with the shipped model, finds the presets, trains in the foreground and as a job, all from a folder
outside the checkout, with nothing of the checkout on the path.

To stay fast and offline, the new environment reuses the dependencies already installed here: a
``.pth`` file in its site-packages names this interpreter's site-packages (a ``.pth`` line only
extends ``sys.path``; the ``.pth`` files in that folder, such as an editable install of ``fer``, are
not run), and the package is built with ``pip install --no-deps --no-build-isolation --no-index``,
pip and setuptools coming from the same place (the new environment has none of its own). The build reads a copy of the sources, so no ``build/`` or
``*.egg-info`` lands in the checkout.
"""
import json
import os
import shutil
import site
import subprocess
import time
import venv

import pytest

import builders as b
from builders import REPO

from skimage import data as skdata  # a requirement: imported, never skipped


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of a fresh venv with fer installed non-editable, its site-packages)."""
    root = tmp_path_factory.mktemp("install")
    venv.EnvBuilder(with_pip=False).create(root / "venv")  # pip and setuptools come from here (the .pth)
    python = root / "venv" / "bin" / "python"
    target = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(target, "_parent_site.pth"), "w") as f:
        f.write("\n".join(site.getsitepackages()) + "\n")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "fer", src / "fer", ignore=shutil.ignore_patterns("__pycache__"))
    p = subprocess.run([python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                        str(src)], capture_output=True, text=True, timeout=600, env=_env())
    assert p.returncode == 0, p.stdout + p.stderr
    return python, target


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FER_ARTIFACTS", "VIRTUAL_ENV")}
    return {**env, "HF_HUB_OFFLINE": "1", **extra}


def _run(python, *args, cwd, store, timeout=300):
    p = subprocess.run([str(python), *args], cwd=cwd, env=_env(FER_ARTIFACTS=str(store)), capture_output=True,
                       text=True, timeout=timeout)
    assert p.returncode == 0, f"{args}: {p.stderr[-3000:]}"
    return p


def test_installed_package_predicts_and_trains_outside_the_checkout(installed, tmp_path):
    from PIL import Image

    python, site_packages = installed
    work, store = tmp_path / "elsewhere", tmp_path / "store"
    work.mkdir()
    where = _run(python, "-c", "import fer, fer.store.layout as l, fer.training.config as c; "
                 "print(fer.__file__, l.SHIPPED, c.PRESETS, sep='\\n')", cwd=work, store=store).stdout.split()
    assert all(w.startswith(site_packages) for w in where), where  # the installed copy, not the checkout
    assert str(REPO) not in " ".join(where)

    Image.fromarray(skdata.astronaut()).save(work / "astronaut.png")
    p = _run(python, "-m", "fer", "predict", "astronaut.png", "--json", cwd=work, store=store)
    faces = json.loads(p.stdout.splitlines()[0])["faces"]
    assert len(faces) == 1 and faces[0]["label"] == "happy"  # the shipped model, from package data

    b.imagefolder(work / "src", classes=b.FER_CLASSES, per_class=12)
    _run(python, "-m", "fer", "dataset", "import", "src", "--name", "tiny", "--quiet", cwd=work, store=store)
    p = _run(python, "-m", "fer", "train", "--config", "smoke", "--set", "dataset=tiny", "--set", "epochs=1",
             cwd=work, store=store)
    run_id, folder = p.stdout.split()
    meta = json.loads((store / "runs" / run_id / "model.json").read_text())
    assert meta["git_commit"] is None  # no checkout around the installed package

    code = ("from fer.training.config import load; from fer.training.launch import launch; "
            "print(launch(load('smoke', ['dataset=tiny', 'epochs=1'])))")
    job = _run(python, "-c", code, cwd=work, store=store).stdout.strip()
    status = os.path.join(job, "status.json")
    t = time.time()
    while json.load(open(status))["state"] in ("queued", "running"):
        assert time.time() - t < 300, open(os.path.join(job, "train.log")).read()
        time.sleep(0.5)
    log = open(os.path.join(job, "train.log")).read()
    assert json.load(open(status))["state"] == "finished", log
    assert "epoch 1/1" in log
