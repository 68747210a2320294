"""``fer`` installs as a package: its wheel, installed without its dependencies into a fresh
virtual environment, predicts with the shipped model, finds the presets, exports ONNX, runs on
onnxruntime, trains in the foreground and as a job, all from a folder outside the checkout, with
nothing of the checkout on the path, and with no module that the package does not declare.

To stay fast and offline, the new environment reuses the dependencies already installed here: a
``.pth`` file in its site-packages names this interpreter's site-packages (a ``.pth`` line only
extends ``sys.path``; the ``.pth`` files in that folder, such as an editable install of ``fer``, are
not run; ``--system-site-packages`` would give the base interpreter's, which has none of them).
That folder holds more than ``fer`` declares (the test tools, scikit-image before it was declared),
so a ``sitecustomize`` in the new environment lets Python import only the standard library and
the top-level modules of the distributions the wheel's metadata requires, followed through
their own requirements: a module ``fer`` imports without declaring it fails there as it would
after ``pip install fer-studio`` on a clean machine (``No module named 'skimage'``). ``deptry``
checks the same on the sources. The wheel is built with ``pip wheel --no-deps
--no-build-isolation --no-index`` from a copy of the sources, so no ``build/`` or ``*.egg-info``
lands in the checkout.
"""
import json
import os
import shutil
import site
import subprocess
import sys
import time
import venv
import zipfile
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import builders as b
from builders import REPO

from skimage import data as skdata  # a requirement: imported, never skipped

GUARD = """import os
import sys
from importlib.machinery import PathFinder

ALLOWED = set({allowed!r})
STDLIB = os.path.dirname(os.__file__)  # lib/python3.x, lib-dynload inside it


class _Undeclared:
    def find_spec(self, name, path=None, target=None):
        if path is not None or name in ALLOWED or name in sys.builtin_module_names:
            return None  # a submodule follows its package
        spec = PathFinder.find_spec(name)
        where = [spec.origin or ""] + list(spec.submodule_search_locations or []) if spec else []
        if spec is None or all(w.startswith(STDLIB) and "site-packages" not in w for w in where):
            return None
        raise ModuleNotFoundError(f"No module named {{name!r}} (fer-studio does not declare it)", name=name)


sys.meta_path.insert(0, _Undeclared())
"""


def provided_modules(dist: metadata.Distribution) -> set[str]:
    """The top-level modules a distribution installs."""
    out = set()
    for f in dist.files or ():
        top = f.parts[0]
        if top.endswith((".dist-info", ".data", ".pth")) or top in ("..", "__pycache__", "bin"):
            continue
        out.add(top.split(".")[0] if len(f.parts) == 1 else top)
    return out


def closure(requirements: list[str]) -> set[str]:
    """Every top-level module of these requirements and of theirs, extras and markers followed."""
    todo, seen, modules = [(Requirement(r), "") for r in requirements], set(), set()
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        wanted = {(name, e) for e in ("", *req.extras)} - seen
        if not wanted:
            continue
        seen |= wanted
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:  # not installed here: nothing of it can be imported anyway
            continue
        modules |= provided_modules(dist)
        todo += [(Requirement(r), e) for r in dist.requires or () for _, e in wanted]
    return modules


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of a fresh venv with fer's wheel installed, its site-packages, the wheel's requirements)."""
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "fer", src / "fer", ignore=shutil.ignore_patterns("__pycache__"))
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                        "-w", str(root / "dist"), str(src)], capture_output=True, text=True, timeout=600, env=_env())
    assert p.returncode == 0, p.stdout + p.stderr
    wheel = next((root / "dist").glob("fer_studio-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Requires-Dist:")]

    venv.EnvBuilder(with_pip=False).create(root / "venv")  # pip comes from here (the .pth), for the install only
    python = root / "venv" / "bin" / "python"
    target = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(target, "_parent_site.pth"), "w") as f:
        f.write("\n".join(site.getsitepackages()) + "\n")
    p = subprocess.run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                       capture_output=True, text=True, timeout=600, env=_env())
    assert p.returncode == 0, p.stdout + p.stderr
    allowed = closure([r for r in requires if "extra ==" not in r]) | {"fer"}
    with open(os.path.join(target, "sitecustomize.py"), "w") as f:
        f.write(GUARD.format(allowed=sorted(allowed)))
    return python, target, requires


def test_the_import_guard_refuses_what_the_wheel_does_not_declare(installed, tmp_path):
    python, _, requires = installed
    declared = {canonicalize_name(Requirement(r).name) for r in requires}
    assert {"scikit-image", "aiortc", "huggingface-hub", "sqlalchemy", "torch"} <= declared
    ok = _run(python, "-c", "import torch, skimage, aiortc, sqlalchemy, fer; print('ok')", cwd=tmp_path,
              store=tmp_path / "s")
    assert ok.stdout.strip() == "ok"
    p = subprocess.run([str(python), "-c", "import pytest"], cwd=tmp_path, env=_env(), capture_output=True, text=True)
    assert p.returncode == 1 and "No module named 'pytest' (fer-studio does not declare it)" in p.stderr
    assert "skimage" not in closure(["torch", "timm"])  # had fer not declared scikit-image, importing it fails


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

    python, site_packages, _ = installed
    work, store = tmp_path / "elsewhere", tmp_path / "store"
    work.mkdir()
    where = _run(python, "-c", "import fer, fer.store.layout as l, fer.config as c; "
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

    code = ("from fer.config import load; from fer.jobs.launch import train as launch; "
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


def test_the_wheel_exports_onnx_and_predicts_on_onnxruntime_outside_the_checkout(installed, tmp_path):
    from PIL import Image

    python = installed[0]
    work, store = tmp_path / "elsewhere", tmp_path / "store"
    work.mkdir()
    _run(python, "-m", "fer", "model", "export", "default", "--format", "onnx", "--out", "default.onnx", cwd=work,
         store=store)
    assert (work / "default.onnx").stat().st_size > 1_000_000
    Image.fromarray(skdata.astronaut()).save(work / "astronaut.png")
    p = _run(python, "-m", "fer", "predict", "astronaut.png", "--runtime", "onnx", "--json", cwd=work, store=store)
    faces = json.loads(p.stdout.splitlines()[0])["faces"]
    assert len(faces) == 1 and faces[0]["label"] == "happy"


def test_deptry_finds_every_import_of_fer_declared():
    """deptry reads pyproject.toml and every import of fer/: none undeclared, none only arriving
    with another package, none declared and unused (but those pyproject.toml names with the reason)."""
    deptry = shutil.which("deptry", path=os.path.dirname(sys.executable)) or shutil.which("deptry")
    assert deptry, "deptry is a test requirement (requirements.txt)"
    p = subprocess.run([deptry, "."], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
