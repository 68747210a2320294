"""``python -m fer dataset ...`` as a user runs it."""
import json
import os
import subprocess
import sys

import builders as b
from builders import REPO


def run(*args, env_store, check=True):
    env = {**os.environ, "FER_ARTIFACTS": str(env_store)}
    p = subprocess.run([sys.executable, "-m", "fer", *args], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=120)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_import_then_list(store, tmp_path):
    src = b.fer2013_folders(tmp_path / "fer")
    p = run("dataset", "import", str(src), "--name", "tiny", env_store=store)
    assert "dataset tiny: 56 images from fer (fer2013-folders)" in p.stdout
    assert "total" in p.stdout and "checks: corrupt: 0" in p.stdout
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith(f"wrote {store / 'datasets' / 'tiny'} (56 images)")
    assert "scan" in p.stderr  # the progress bar went to stderr
    info = json.loads((store / "datasets" / "tiny" / "dataset.json").read_text())
    assert info["sources"]["fer"]["format"] == "fer2013-folders"
    p = run("dataset", "list", env_store=store)
    assert p.stdout.splitlines()[1].split()[:5] == ["tiny", "56", "28", "14", "14"]


def test_map_and_named_format(store, tmp_path):
    src = b.imagefolder(tmp_path / "mine", classes=("joy", "sad", "calm"), per_class=4)
    p = run("dataset", "import", f"{src}=imagefolder", "--name", "m", "--map", "joy=happy", env_store=store)
    assert "dropped (outside the seven classes or unusable): calm: 4" in p.stdout


def test_refusals_are_one_line_with_nonzero_exit(store, tmp_path):
    cases = [
        (["dataset", "import", str(tmp_path / "missing"), "--name", "x"], "no such file or folder"),
        (["dataset", "import", str(tmp_path), "--name", "bad name"], "invalid name"),
        (["dataset", "import", str(tmp_path), "--name", "x", "--map", "joy"], "SOURCE=CLASS"),
        (["dataset", "import", f"{tmp_path}=nosuchformat", "--name", "x"], "unknown format 'nosuchformat'"),
    ]
    for args, reason in cases:
        p = run(*args, env_store=store, check=False)
        assert p.returncode != 0, args
        assert p.stderr.strip().count("\n") == 0 and reason in p.stderr, p.stderr
        assert "Traceback" not in p.stderr
    assert not (store / "datasets").exists() or not any((store / "datasets").iterdir())


def test_empty_store_list_says_what_to_do(store):
    p = run("dataset", "list", env_store=store)
    assert p.stdout == "" and "python -m fer dataset import" in p.stderr


def test_cli_keeps_torch_out(store, tmp_path):
    src = b.imagefolder(tmp_path / "s", classes=("happy", "sad"), per_class=3)
    code = ("import sys; from fer.cli import main; main(['dataset', 'import', %r, '--name', 'q', '--quiet']); "
            "main(['dataset', 'list']); print('torch' in sys.modules, 'streamlit' in sys.modules, file=sys.stderr)"
            % str(src))
    env = {**os.environ, "FER_ARTIFACTS": str(store)}
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert p.stderr.strip().splitlines()[-1] == "False False"
